"""Topic creation on the real broker: the configured replication factor, refusals reported."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys

import pytest

from socialpulse.kafka import TopicCreationError, ensure_compacted_topic, ensure_topics
from socialpulse.settings import REPO_ROOT
from tests.conftest import Namespace


@pytest.mark.kafka
def test_more_replicas_than_brokers_is_refused_loudly(ns: Namespace) -> None:
    """The test broker is one node, so two replicas cannot be placed. aiokafka hands that
    back as a per-topic error code; before, ensure_topics reported the topics created."""
    settings = ns.settings(topic_prefix=f"{ns.name}-rf", topic_replication_factor=2)
    with pytest.raises(TopicCreationError, match="InvalidReplicationFactorError"):
        asyncio.run(ensure_topics(settings))
    with pytest.raises(TopicCreationError, match="InvalidReplicationFactorError"):
        asyncio.run(ensure_compacted_topic(settings, f"{ns.name}-rf-changelog", 4))


@pytest.mark.kafka
@pytest.mark.clickhouse_db
def test_migrate_says_which_topics_were_refused_and_exits_1(ns: Namespace) -> None:
    env = {
        **os.environ,
        **ns.env,
        "SOCIALPULSE_TOPIC_PREFIX": f"{ns.name}-rf",
        "SOCIALPULSE_TOPIC_REPLICATION_FACTOR": "2",
    }
    done = subprocess.run(
        [sys.executable, "-m", "socialpulse.cli", "migrate"],
        env=env,
        capture_output=True,
        text=True,
        cwd=REPO_ROOT,
        timeout=120,
    )
    assert done.returncode == 1, done.stdout + done.stderr
    assert f"{ns.name}-rf.raw.profile-snapshots: InvalidReplicationFactorError" in done.stderr
    assert "SOCIALPULSE_TOPIC_REPLICATION_FACTOR=2" in done.stderr
    assert "topics created" not in done.stdout
