"""Every migration applies, rolls back and applies again (snuba's runner test)."""

from __future__ import annotations

import pytest
from clickhouse_connect.driver.client import Client

from clickhouse import accounts, queries
from clickhouse.migrations import runner
from socialpulse.contract import from_ms
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


def settings_of(ch: Client, database: str, setting: str, names: tuple[str, ...]) -> dict[str, bool]:
    """Whether each table's engine has ``setting`` (``name = value``)."""
    rows = ch.query(
        "SELECT name, engine_full FROM system.tables WHERE database = {db:String}"
        " AND name IN {names:Array(String)}",
        parameters={"db": database, "names": list(names)},
    ).result_rows
    return {name: setting in engine for name, engine in rows}


@pytest.mark.parametrize(
    ("version", "setting", "names"),
    [
        (7, "min_age_to_force_merge_seconds = 60", ("accounts", "account_latest")),
        (
            9,
            "min_age_to_force_merge_seconds = 3600, min_age_to_force_merge_on_partition_only = 1",
            ("account_metrics_hourly", "account_metrics_daily", "follower_changes"),
        ),
    ],
)
def test_forced_merge_settings_apply_and_roll_back(
    ns: Namespace, ch: Client, version: int, setting: str, names: tuple[str, ...]
) -> None:
    db = ns.settings().clickhouse_database
    later = [m.version for m in runner.discover() if m.version >= version]
    assert settings_of(ch, db, setting, names) == dict.fromkeys(names, True)
    assert [m.version for m in runner.rollback(ch, db, version - 1)] == later[::-1]
    assert settings_of(ch, db, setting, names) == dict.fromkeys(names, False)
    assert [m.version for m in runner.migrate(ch, db)] == later
    assert settings_of(ch, db, setting, names) == dict.fromkeys(names, True)


def test_m0008_indexes_the_registry_as_it_was_and_as_it_changes(ns: Namespace, ch: Client) -> None:
    db = ns.settings().clickhouse_database

    def tracked(workspace: str, account: str) -> bool | None:
        sql = "SELECT " + queries.tracks("{w:String}", "'simulated'", "{a:String}")
        rows = ch.query(sql, parameters={"w": workspace, "a": account}).result_rows
        return None if rows[0][0] is None else bool(rows[0][0])

    def untrack(workspace: str, account: str) -> None:
        ch.insert(
            "accounts",
            [[workspace, "simulated", account, account, "t", 1]],
            column_names=[
                "workspace",
                "platform",
                "account_id",
                "handle",
                "added_by",
                "is_deleted",
            ],
        )

    undone = runner.rollback(ch, db, 7)
    accounts.track(ch, "ws-a", "simulated", ["kept", "dropped"], added_by="t")
    accounts.track(ch, "ws-b", "simulated", ["kept"], added_by="t")
    untrack("ws-a", "dropped")
    assert [m.version for m in runner.migrate(ch, db)] == [m.version for m in reversed(undone)]
    # the rows written before the migration (its copy of accounts FINAL)
    assert tracked("ws-a", "kept") and tracked("ws-b", "kept")
    assert not tracked("ws-a", "dropped") and not tracked("ws-b", "dropped")
    assert not tracked("ws-c", "kept")
    # and every change since, as the insert into accounts happens
    untrack("ws-b", "kept")
    accounts.track(ch, "ws-a", "simulated", ["dropped"], added_by="t")
    accounts.track(ch, "ws-c", "simulated", ["new"], added_by="t")
    assert tracked("ws-a", "kept") and not tracked("ws-b", "kept")
    assert tracked("ws-a", "dropped") and tracked("ws-c", "new")
    visible = {
        (w, a) for w, a in ch.query("SELECT workspace, account_id FROM accounts FINAL").result_rows
    }
    assert visible == {("ws-a", "kept"), ("ws-a", "dropped"), ("ws-c", "new")}


def test_m0010_looks_up_the_latest_observation_as_it_was_and_as_it_changes(
    ns: Namespace, ch: Client
) -> None:
    db = ns.settings().clickhouse_database
    columns = ["platform", "account_id", "handle", "followers", "observed_at", "version"]

    def write(account: str, observed_ms: int, version: int) -> None:
        ch.insert(
            "account_latest",
            [["simulated", account, account, 1, from_ms(observed_ms), version]],
            column_names=columns,
        )

    def looked_up(account: str) -> int | None:
        sql = (
            "SELECT toUnixTimestamp64Milli(joinGetOrNull('account_observed', 'observed_at',"
            " 'simulated', {a:String}))"
        )
        return ch.query(sql, parameters={"a": account}).result_rows[0][0]

    def final(account: str) -> int:
        sql = (
            "SELECT toUnixTimestamp64Milli(observed_at) FROM account_latest FINAL"
            " WHERE platform = 'simulated' AND account_id = {a:String}"
        )
        return ch.query(sql, parameters={"a": account}).result_rows[0][0]

    undone = runner.rollback(ch, db, 9)
    write("before", 1_000, 1)
    write("before", 5_000, 2)
    assert [m.version for m in runner.migrate(ch, db)] == [m.version for m in reversed(undone)]
    assert looked_up("before") == final("before") == 5_000  # the copy of account_latest FINAL
    write("before", 9_000, 3)  # and every write since, as it is inserted
    write("after", 7_000, 1)
    assert looked_up("before") == final("before") == 9_000
    assert looked_up("after") == final("after") == 7_000
    assert looked_up("never") is None
    assert [m.version for m in runner.rollback(ch, db, 9)] == [10]
    assert "account_observed" not in {r[0] for r in ch.query("SHOW TABLES").result_rows}
