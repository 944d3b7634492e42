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


def test_m0007_merges_the_small_final_tables_and_rolls_back(ns: Namespace, ch: Client) -> None:
    db = ns.settings().clickhouse_database

    def forced() -> dict[str, bool]:
        rows = ch.query(
            "SELECT name, engine_full FROM system.tables WHERE database = {db:String}"
            " AND name IN ('accounts', 'account_latest')",
            parameters={"db": db},
        ).result_rows
        return {name: "min_age_to_force_merge_seconds = 60" in engine for name, engine in rows}

    assert forced() == {"accounts": True, "account_latest": True}
    assert [m.version for m in runner.rollback(ch, db, 6)] == [7]
    assert forced() == {"accounts": False, "account_latest": False}
    assert [m.version for m in runner.migrate(ch, db)] == [7]
    assert forced() == {"accounts": True, "account_latest": True}
