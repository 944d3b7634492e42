"""The chdb-backed ClickHouse HTTP server (``python -m clickhouse.server``) with clickhouse-connect.

One server process for the module, on a free port in 18100-18199 with its own data folder.
"""

from __future__ import annotations

import datetime as dt
import gzip
import re
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import clickhouse_connect
import lz4.frame
import pytest
import zstandard
from clickhouse_connect.driver.client import Client
from clickhouse_connect.driver.exceptions import DatabaseError
from clickhouse_connect.driver.summary import QuerySummary

pytestmark = pytest.mark.clickhouse_db

REPO_ROOT = Path(__file__).resolve().parents[2]
UTC = dt.UTC


def free_port(first: int = 18100, last: int = 18199) -> int:
    for port in range(first, last + 1):
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise RuntimeError(f"no free port in {first}-{last}")


@dataclass
class ChdbServer:
    data: Path
    port: int
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def pid_file(self) -> Path:
        return self.data.parent / "server.pid"

    @property
    def log(self) -> Path:
        return self.data.parent / "server.log"

    def start(self) -> None:
        command = [sys.executable, "-m", "clickhouse.server", "--host", "127.0.0.1"]
        command += ["--port", str(self.port), "--path", str(self.data)]
        command += ["--pid-file", str(self.pid_file), "--log-level", "DEBUG"]
        with self.log.open("ab") as log:
            self.process = subprocess.Popen(command, cwd=REPO_ROOT, stdout=log, stderr=log)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"server exited early:\n{self.log.read_text()[-3000:]}")
            if self.ping():
                return
            time.sleep(0.1)
        raise RuntimeError("server did not answer /ping within 60s")

    def ping(self) -> bool:
        try:
            return http(f"{self.url}/ping", method="GET")[2] == b"Ok.\n"
        except OSError:
            return False

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()

    def client(self, **options: Any) -> Client:
        return clickhouse_connect.get_client(host="127.0.0.1", port=self.port, **options)


def http(
    url: str, body: bytes | None = None, headers: dict[str, str] | None = None, method: str = "POST"
) -> tuple[int, dict[str, str], bytes]:
    request = urllib.request.Request(url, data=body, headers=headers or {}, method=method)
    try:
        with urllib.request.urlopen(request, timeout=30) as answer:
            return answer.status, dict(answer.headers), answer.read()
    except urllib.error.HTTPError as error:
        with error:
            return error.code, dict(error.headers), error.read()


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ChdbServer]:
    running = ChdbServer(tmp_path_factory.mktemp("chdb") / "data", free_port())
    running.start()
    yield running
    running.stop()
    assert running.process is not None and running.process.returncode == 0
    assert not running.pid_file.exists()


@pytest.fixture
def client(server: ChdbServer) -> Iterator[Client]:
    made = server.client()
    yield made
    made.close()


@pytest.fixture
def db(client: Client) -> Iterator[str]:
    name = f"t{uuid.uuid4().hex[:10]}"
    client.command(f"CREATE DATABASE {name}")
    yield name
    client.command(f"DROP DATABASE IF EXISTS {name}")


def test_connects_and_pings(server: ChdbServer, client: Client) -> None:
    assert client.ping()
    assert (client.server_version or "").startswith("26.")
    assert client.query("SELECT timezone()").result_rows == [("UTC",)]
    assert http(server.url, method="GET")[2] == b"Ok.\n"
    status, headers, body = http(server.url, b"SELECT 1 FORMAT CSV")
    assert (status, body, headers["X-ClickHouse-Format"]) == (200, b"1\n", "CSV")
    assert headers["X-ClickHouse-Timezone"] == "UTC"
    assert headers["X-ClickHouse-Summary"].startswith('{"read_rows":"1"')
    assert server.process is not None
    assert server.pid_file.read_text().strip() == str(server.process.pid)


def test_query_with_parameters(client: Client) -> None:
    params = {"n": 21, "s": "tab\there 'quote' \\ back", "day": dt.date(2024, 2, 29)}
    result = client.query("SELECT {n:UInt64} * 2, {s:String}, {day:Date} + 1", parameters=params)
    assert result.result_rows == [(42, params["s"], dt.date(2024, 3, 1))]
    # long parameter lists go as multipart/form-data
    ids = list(range(0, 40_000, 3))
    rows = client.query(
        "SELECT count() FROM numbers(40000) WHERE number IN {ids:Array(UInt64)}",
        parameters={"ids": ids},
    )
    assert rows.result_rows == [(len(ids),)]


TYPES = """id UInt64, s String, lc LowCardinality(String), n Nullable(Int64),
    ts DateTime64(3, 'UTC'), d Date, u8 UInt8, arr Array(String), f Float64,
    dec Decimal(18, 4), uid UUID, b Bool, m Map(String, UInt32),
    ln LowCardinality(Nullable(String)), an Array(Nullable(Int32)), t DateTime('UTC')"""
ROWS = [
    [1, "héllo\t\n\\", "x", None, dt.datetime(2024, 1, 2, 3, 4, 5, 678000, tzinfo=UTC),
     dt.date(2024, 2, 29), 255, ["a", ""], 1.5, Decimal("12.3456"), uuid.UUID(int=5), True,
     {"k": 1}, None, [1, None], dt.datetime(2020, 1, 1, 0, 0, 1, tzinfo=UTC)],
    [2, "", "y", -(2**63), dt.datetime(1970, 1, 1, 0, 0, 0, 1000, tzinfo=UTC),
     dt.date(1970, 1, 1), 0, [], -2.25, Decimal("-1"), uuid.UUID(int=0), False, {}, "v", [],
     dt.datetime(2038, 1, 19, 3, 14, 7, tzinfo=UTC)],
]  # fmt: skip
TYPE_NAMES = [column.split()[0] for column in re.split(r",\s+(?=[a-z][a-z0-9]* [A-Z])", TYPES)]


def test_native_round_trip_of_many_types(server: ChdbServer, db: str) -> None:
    client = server.client(tz_mode="aware")
    client.command(f"CREATE TABLE {db}.types ({TYPES}) ENGINE = MergeTree ORDER BY id")
    summary = client.insert(f"{db}.types", ROWS, column_names=TYPE_NAMES)
    assert summary.written_rows == 2
    assert [
        list(row) for row in client.query(f"SELECT * FROM {db}.types ORDER BY id").result_rows
    ] == ROWS
    types = client.query(f"SELECT toTypeName(ts), toTypeName(n) FROM {db}.types LIMIT 1")
    assert types.result_rows == [("DateTime64(3, 'UTC')", "Nullable(Int64)")]
    client.close()


def make_events(client: Client, db: str) -> str:
    table = f"{db}.events"
    client.command(
        f"CREATE TABLE {table} (id UInt64, account LowCardinality(String), "
        "ts DateTime64(3, 'UTC'), value Nullable(Int64), label String) "
        "ENGINE = MergeTree ORDER BY id"
    )
    return table


def event_columns(n: int) -> list[list[Any]]:
    start = dt.datetime(2024, 1, 1)
    return [
        list(range(n)),
        [f"acct{i % 7}" for i in range(n)],
        [start + dt.timedelta(milliseconds=i) for i in range(n)],
        [None if i % 5 == 0 else i * 2 for i in range(n)],
        [f"label-{i}" for i in range(n)],
    ]


def test_column_oriented_insert_then_select(client: Client, db: str) -> None:
    table, n = make_events(client, db), 50_000
    names = ["id", "account", "ts", "value", "label"]
    summary = client.insert(table, event_columns(n), column_names=names, column_oriented=True)
    assert summary.written_rows == n
    query = "SELECT count(), sum(id), count(value), sum(value), max(ts), uniqExact(account)"
    query += f" FROM {table}"
    expected_value = sum(i * 2 for i in range(n) if i % 5)
    last = dt.datetime(2024, 1, 1) + dt.timedelta(milliseconds=n - 1)
    row = (n, n * (n - 1) // 2, n - n // 5, expected_value, last, 7)
    assert client.query(query).result_rows == [row]


@pytest.mark.parametrize("compress", ["lz4", "zstd", "gzip", False])
def test_compressed_and_plain_inserts(server: ChdbServer, db: str, compress: str | bool) -> None:
    client = server.client(compress=compress)
    table, n = make_events(client, db), 20_000
    names = ["id", "account", "ts", "value", "label"]
    assert (
        client.insert(
            table, event_columns(n), column_names=names, column_oriented=True
        ).written_rows
        == n
    )
    assert client.query(f"SELECT count(), sum(id) FROM {table}").result_rows == [
        (n, n * (n - 1) // 2)
    ]
    client.close()


@pytest.mark.parametrize("encoding", ["lz4", "zstd", "gzip"])
def test_multi_frame_request_bodies(
    server: ChdbServer, client: Client, db: str, encoding: str
) -> None:
    client.command(f"CREATE TABLE {db}.csv (a UInt32, s String) ENGINE = MergeTree ORDER BY a")
    pieces = [b"1,one\n", b"2,two\n"]
    compressors = {
        "lz4": lz4.frame.compress,
        "zstd": zstandard.ZstdCompressor().compress,
        "gzip": gzip.compress,
    }
    body = b"".join(compressors[encoding](piece) for piece in pieces)
    url = f"{server.url}/?query=INSERT+INTO+{db}.csv+FORMAT+CSV"
    status, headers, _ = http(url, body, {"Content-Encoding": encoding})
    assert status == 200
    assert '"written_rows":"2"' in headers["X-ClickHouse-Summary"]
    assert client.query(f"SELECT * FROM {db}.csv ORDER BY a").result_rows == [
        (1, "one"),
        (2, "two"),
    ]


def test_values_and_json_inserts(client: Client, db: str) -> None:
    client.command(f"CREATE TABLE {db}.kv (k UInt32, v String) ENGINE = MergeTree ORDER BY k")
    values = client.command(f"INSERT INTO {db}.kv VALUES (1, 'a'), (2, 'b')")
    assert isinstance(values, QuerySummary) and values.written_rows == 2
    data = '{"k": 3, "v": "c"}\n{"k": 4, "v": "d"}\n'
    json_rows = client.command(f"INSERT INTO {db}.kv FORMAT JSONEachRow", data=data)
    assert isinstance(json_rows, QuerySummary) and json_rows.written_rows == 2
    raw = client.raw_insert(f"{db}.kv", ["k", "v"], "5\te\n", fmt="TabSeparated")
    assert raw.written_rows == 1
    rows = client.query(f"SELECT k, v FROM {db}.kv ORDER BY k").result_rows
    assert rows == [(1, "a"), (2, "b"), (3, "c"), (4, "d"), (5, "e")]


def test_errors_raise_database_error_with_code(server: ChdbServer, client: Client) -> None:
    with pytest.raises(DatabaseError) as unknown:
        client.query("SELECT * FROM no_such_table")
    assert unknown.value.code == 60 and "UNKNOWN_TABLE" in str(unknown.value)
    with pytest.raises(DatabaseError) as syntax:
        client.command("SELEC 1")
    assert syntax.value.code == 62 and "Syntax error" in str(syntax.value)
    status, headers, body = http(server.url, b"SELECT * FROM no_such_table")
    assert (status, headers["X-ClickHouse-Exception-Code"]) == (404, "60")
    assert body.startswith(b"Code: 60. DB::Exception: ") and b"(version 26." in body
    assert http(server.url, b"SELEC 1")[0] == 400
    assert client.query("SELECT 1").result_rows == [(1,)]  # the connection is still fine


def test_database_url_parameter(server: ChdbServer, client: Client, db: str) -> None:
    client.command(f"CREATE TABLE {db}.only_here (a UInt8) ENGINE = MergeTree ORDER BY a")
    client.insert(f"{db}.only_here", [[7]], column_names=["a"])
    scoped = server.client(database=db)
    assert scoped.query("SELECT a, currentDatabase() FROM only_here").result_rows == [(7, db)]
    assert client.query("SELECT currentDatabase()").result_rows == [("default",)]
    scoped.close()
    status, headers, body = http(f"{server.url}/?database=no_such_db", b"SELECT 1")
    assert (status, headers["X-ClickHouse-Exception-Code"]) == (404, "81")
    assert b"UNKNOWN_DATABASE" in body


def test_settings_apply_per_request_only(client: Client) -> None:
    default = client.query("SELECT getSetting('max_threads')").result_rows
    client.command("SET max_threads = 1")
    assert client.query("SELECT getSetting('max_threads')").result_rows == default
    one_off = client.query("SELECT getSetting('max_threads')", settings={"max_threads": 3})
    assert one_off.result_rows == [(3,)]
    assert client.query("SELECT getSetting('max_threads')").result_rows == default


def test_replacing_merge_tree_final(client: Client, db: str) -> None:
    client.command(
        f"CREATE TABLE {db}.r (k UInt64, v String, ver UInt64, is_deleted UInt8) "
        "ENGINE = ReplacingMergeTree(ver, is_deleted) ORDER BY k"
    )
    names = ["k", "v", "ver", "is_deleted"]
    client.insert(f"{db}.r", [[1, "a", 1, 0], [2, "b", 1, 0], [3, "c", 1, 0]], column_names=names)
    client.insert(f"{db}.r", [[1, "a2", 2, 0], [2, "b", 2, 1]], column_names=names)
    assert client.query(f"SELECT count() FROM {db}.r").result_rows == [(5,)]
    final = [(1, "a2"), (3, "c")]
    assert client.query(f"SELECT k, v FROM {db}.r FINAL ORDER BY k").result_rows == final
    client.command(f"OPTIMIZE TABLE {db}.r FINAL")
    assert client.query(f"SELECT k, v FROM {db}.r FINAL ORDER BY k").result_rows == final


def test_concurrent_queries_from_threads(server: ChdbServer, client: Client, db: str) -> None:
    client.command(f"CREATE TABLE {db}.c (w UInt8, i UInt32) ENGINE = MergeTree ORDER BY (w, i)")
    errors: list[BaseException] = []

    def work(worker: int) -> None:
        own = server.client(autogenerate_session_id=False)
        try:
            for batch in range(10):
                rows = [[worker, batch * 50 + i] for i in range(50)]
                own.insert(f"{db}.c", rows, column_names=["w", "i"])
                count = own.query(
                    f"SELECT count() FROM {db}.c WHERE w = {{w:UInt8}}", parameters={"w": worker}
                )
                assert count.result_rows == [((batch + 1) * 50,)]
        except BaseException as error:  # collected: the main thread asserts
            errors.append(error)
        finally:
            own.close()

    threads = [threading.Thread(target=work, args=(worker,)) for worker in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    totals = client.query(f"SELECT w, count() FROM {db}.c GROUP BY w ORDER BY w").result_rows
    assert totals == [(worker, 500) for worker in range(8)]


def test_persistence_across_restart(server: ChdbServer, client: Client, db: str) -> None:
    client.command(f"CREATE TABLE {db}.keep (a UInt32, s String) ENGINE = MergeTree ORDER BY a")
    client.insert(f"{db}.keep", [[1, "one"], [2, "two"]], column_names=["a", "s"])
    client.command(f"ALTER TABLE {db}.keep ADD COLUMN extra UInt8 DEFAULT 9")
    server.stop()
    assert server.process is not None and server.process.returncode == 0
    assert not server.pid_file.exists()
    server.start()  # chdb's lock on the data folder was released
    again = server.client()
    rows = again.query(f"SELECT a, s, extra FROM {db}.keep ORDER BY a").result_rows
    assert rows == [(1, "one", 9), (2, "two", 9)]
    again.close()
