"""Every migration applies, rolls back and applies again (snuba's runner test)."""

from __future__ import annotations

import pytest
from clickhouse_connect.driver.client import Client

from clickhouse.migrations import runner
from tests.conftest import Namespace

pytestmark = [pytest.mark.clickhouse_db, pytest.mark.kafka]


def tables(ch: Client, database: str) -> set[str]:
    rows = ch.query(
        "SELECT name FROM system.tables WHERE database = {db:String}", parameters={"db": database}
    ).result_rows
    return {r[0] for r in rows} - {"schema_migrations"}


def test_forwards_backwards_forwards(ns: Namespace, ch: Client) -> None:
    db = ns.settings().clickhouse_database
    every = runner.discover()
    assert [m.version for m in every] == sorted({m.version for m in every})
    assert runner.applied_versions(ch, db) == {m.version for m in every}
    assert {"profile_snapshots", "follower_changes", "accounts"} <= tables(ch, db)
    assert runner.migrate(ch, db) == []  # nothing pending: idempotent

    undone = runner.rollback(ch, db, 0)
    assert [m.version for m in undone] == [m.version for m in reversed(every)]
    assert tables(ch, db) == set()
    assert runner.applied_versions(ch, db) == set()

    redone = runner.migrate(ch, db)
    assert [m.version for m in redone] == [m.version for m in every]
    assert {"profile_snapshots", "follower_changes", "accounts"} <= tables(ch, db)
