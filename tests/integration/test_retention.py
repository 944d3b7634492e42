"""SOCIALPULSE_RAW_TTL_DAYS sets (and unsets) the raw tables' TTL."""

from __future__ import annotations

import pytest
from clickhouse_connect.driver.client import Client

from clickhouse.retention import RAW_TABLES, apply_raw_ttl, ttl_clause
from tests.conftest import Namespace

pytestmark = [pytest.mark.clickhouse_db, pytest.mark.kafka]


def test_raw_ttl_follows_the_setting(ns: Namespace, ch: Client) -> None:
    apply_raw_ttl(ch, 30)
    for table in RAW_TABLES:
        assert "toIntervalDay(30)" in ttl_clause(ch, table).replace(" ", "")
    apply_raw_ttl(ch, 0)
    assert all(ttl_clause(ch, table) == "" for table in RAW_TABLES)
