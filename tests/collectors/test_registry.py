"""The registry: the ClickHouse accounts table (read-only) plus a TOML file, merged."""

from __future__ import annotations

from pathlib import Path

import pytest
from clickhouse_connect.driver.client import Client

from clickhouse.accounts import track
from clickhouse.client import make_client
from collectors.clock import ManualClock
from collectors.registry import Registry, TrackedAccount, clickhouse_loader, load_file, merge
from socialpulse.cli import main
from socialpulse.contract import Platform
from tests.conftest import Namespace

FILE = """
[[accounts]]
platform = "bluesky"
handle = "bsky.app"
workspace = "ops"

[[accounts]]
platform = "instagram"
account_id = "1234"
handle = "acme"
"""


def test_the_file_gives_handles_ids_and_workspaces(tmp_path: Path) -> None:
    path = tmp_path / "accounts.toml"
    path.write_text(FILE)
    bsky, acme = load_file(path)
    assert (bsky.key, bsky.workspaces) == ("bluesky:@bsky.app", frozenset({"ops"}))
    assert (acme.key, acme.handle) == ("instagram:1234", "acme")
    assert acme.workspaces == {"default"}
    path.write_text('[[accounts]]\nplatform = "x"\n')
    with pytest.raises(ValueError, match="needs a handle or an account_id"):
        load_file(path)


@pytest.mark.clickhouse_db
async def test_clickhouse_accounts_merge_with_the_file_and_survive_an_outage(
    ns: Namespace, ch: Client, tmp_path: Path
) -> None:
    path = tmp_path / "accounts.toml"
    path.write_text(FILE)
    track(ch, "w1", "instagram", ["1234", "5678"], added_by="test")
    track(ch, "w2", "instagram", ["1234"], added_by="test")
    settings = ns.settings()
    failing = {"now": False}

    def connect() -> Client:
        if failing["now"]:
            raise ConnectionError("clickhouse is down")
        return make_client(settings)

    clock = ManualClock()
    registry = Registry(clock, file=path, loader=clickhouse_loader(connect), refresh_s=60)
    accounts = {a.key: a for a in await registry.accounts()}
    assert set(accounts) == {"bluesky:@bsky.app", "instagram:1234", "instagram:5678"}
    assert accounts["instagram:1234"].workspaces == {"w1", "w2", "default"}
    assert accounts["instagram:1234"].handle == "acme"  # the file named it

    failing["now"] = True
    ch.command("DROP TABLE accounts")  # the next read fails, and so does reconnecting
    clock.advance(61)
    assert {a.key for a in await registry.accounts()} == set(accounts)


@pytest.mark.clickhouse_db
def test_accounts_add_writes_the_label_and_the_handle(
    ns: Namespace, ch: Client, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    for name, value in ns.env.items():
        monkeypatch.setenv(name, value)
    add = ["accounts", "add", "instagram", "--workspace", "w"]
    assert main([*add, "1784", "--handle", "rival", "--label", "competitor"]) == 0
    assert "as competitor" in capsys.readouterr().out
    assert main([*add, "1", "2"]) == 0
    assert main([*add, "3", "4", "--handle", "one"]) == 2  # a handle names one account
    with pytest.raises(SystemExit):
        main([*add, "5", "--label", "friend"])
    rows = ch.query(
        "SELECT account_id, handle, label, added_by FROM accounts FINAL"
        " WHERE workspace = 'w' ORDER BY account_id"
    ).result_rows
    assert rows == [
        ("1", "1", "own", "cli"),
        ("1784", "rival", "competitor", "cli"),
        ("2", "2", "own", "cli"),
    ]


def test_one_account_in_several_places_is_polled_once() -> None:
    one = TrackedAccount(Platform.X, "a", "1", frozenset({"w1"}))
    same = TrackedAccount(Platform.X, "a-renamed", "1", frozenset({"w2"}))
    other = TrackedAccount(Platform.X, "b", None, frozenset({"w1"}))
    merged = merge([one, same, other])
    assert [(a.key, a.handle, a.workspaces) for a in merged] == [
        ("x:1", "a", frozenset({"w1", "w2"})),
        ("x:@b", "b", frozenset({"w1"})),
    ]
