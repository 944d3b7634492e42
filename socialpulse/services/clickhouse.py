"""The local ClickHouse: the chdb engine behind the HTTP interface (``clickhouse.server``).

It runs as ``python -m clickhouse.server`` with this interpreter; chdb locks its
data folder, so exactly one such process owns ``var_dir/clickhouse/data``.
"""

from __future__ import annotations

import os
import sys
from urllib.parse import urlsplit

import httpx

from socialpulse.services.process import LocalService, ServiceError
from socialpulse.settings import REPO_ROOT

SERVER_MODULE = REPO_ROOT / "clickhouse" / "server.py"


def probe_clickhouse(url: str, timeout: float) -> str:
    answer = httpx.get(f"{url.rstrip('/')}/ping", timeout=timeout)
    answer.raise_for_status()
    if answer.text.strip() != "Ok.":
        raise ConnectionError(f"/ping answered {answer.text.strip()[:80]!r}, not 'Ok.'")
    return "/ping Ok."


class ClickHouseService(LocalService):
    name = "clickhouse"
    setting = "clickhouse_url"
    stop_timeout_s = 15.0

    def _address(self) -> tuple[str, int]:
        parts = urlsplit(self.settings.clickhouse_url)
        if parts.scheme != "http" or not parts.hostname:
            raise ServiceError(
                "a local ClickHouse needs an http://host:port URL, "
                f"not {self.settings.clickhouse_url!r}"
            )
        return parts.hostname, parts.port or 8123

    def ports(self) -> list[tuple[str, int]]:
        return [self._address()]

    def prepare(self) -> None:
        if not SERVER_MODULE.exists():
            raise ServiceError(f"the local ClickHouse server is missing: {SERVER_MODULE}")
        (self.dir / "data").mkdir(parents=True, exist_ok=True)

    def command(self) -> list[str]:
        host, port = self._address()
        return [
            sys.executable, "-m", "clickhouse.server",
            "--host", host, "--port", str(port),
            "--path", str(self.dir / "data"),
            "--pid-file", str(self.dir / "server.pid"),
        ]  # fmt: skip

    def env(self) -> dict[str, str]:
        path = os.environ.get("PYTHONPATH")
        root = str(REPO_ROOT)
        return {**os.environ, "PYTHONPATH": root if not path else f"{root}{os.pathsep}{path}"}

    def probe(self, timeout: float) -> str:
        return probe_clickhouse(self.settings.clickhouse_url, timeout)
