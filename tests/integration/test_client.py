"""The client factory: what a process that makes a client and writes through it loads."""

from __future__ import annotations

import subprocess
import sys

import pytest

from socialpulse.settings import REPO_ROOT
from tests.conftest import Namespace

pytestmark = [pytest.mark.clickhouse_db]

PROGRAM = """
import sys, time
from socialpulse.settings import CommonSettings
from clickhouse.client import make_client
client = make_client(CommonSettings(clickhouse_url=sys.argv[1], clickhouse_database=sys.argv[2]))
try:
    client.command("CREATE TABLE t (a Int64) ENGINE = MergeTree ORDER BY a")
    started = time.perf_counter()
    client.insert("t", [[1], [2]], column_names=["a"])
    first_insert = time.perf_counter() - started
    assert client.query("SELECT sum(a) FROM t").result_rows == [(3,)]
finally:
    client.command(f"DROP DATABASE IF EXISTS `{sys.argv[2]}`")
heavy = sorted(m for m in ("pandas", "numpy", "pyarrow", "polars") if m in sys.modules)
print(f"{first_insert:.3f}", ",".join(heavy))
"""


def test_a_client_never_loads_dataframe_libraries(ns: Namespace) -> None:
    """chdb installs pandas, numpy and pyarrow; clickhouse-connect would import them on the
    first insert (about 0.5 s and 80 MB per process) although we only pass lists."""
    done = subprocess.run(
        [sys.executable, "-c", PROGRAM, ns.urls.clickhouse_url, ns.name],
        capture_output=True,
        text=True,
        cwd=REPO_ROOT,
        timeout=120,
        check=True,
    )
    first_insert, heavy = done.stdout.split()[0], done.stdout.split()[1:]
    assert heavy == [], f"loaded {heavy}"
    assert float(first_insert) < 0.4, f"first insert took {first_insert} s"
