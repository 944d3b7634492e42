"""The ClickHouse HTTP interface served by an in-process chdb engine.

Run as ``python -m clickhouse.server --host 127.0.0.1 --port 8123 --path var/clickhouse/data``.
chdb locks its data folder, so this process is the only owner of ``--path``; every other
component talks to it with clickhouse-connect exactly as it would to a ClickHouse server.

Each request runs on its own chdb connection, taken from a small pool keyed by
(database, settings): chdb keeps ``USE``/``SET`` state per connection and runs queries of
different connections in parallel. A statement that changes connection state (SET, USE,
CREATE TEMPORARY ...) closes its connection afterwards, so nothing leaks across requests
(there are no server-side HTTP sessions: ``session_id`` is accepted and ignored).
Inserts with data (``FORMAT x`` + body, ``VALUES``) stream the data through chdb's
``send_insert``. Responses are never compressed; request bodies may be lz4, zstd, gzip or
deflate.
"""

from __future__ import annotations

import argparse
import builtins
import email.parser
import email.policy
import gzip
import json
import logging
import os
import re
import signal
import socket
import sys
import threading
import time
import uuid
import zlib
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from io import BufferedIOBase
from itertools import islice
from pathlib import Path
from types import FrameType
from typing import Any, Protocol, cast
from urllib.parse import parse_qsl, urlsplit

import lz4.frame
import zstandard

log = logging.getLogger("clickhouse.server")

KEEP_ALIVE_S = 300
# Engine defaults; --server-setting and --session-setting override them. chdb starts with
# no uncompressed-block cache, so every read decompresses whole blocks of every column of
# every part it touches, even for one row: with the cache on (ClickHouse uses it only for
# small reads), the API's per-account reads cost 10-20% less server CPU (docs/benchmarks.md,
# "Read API latency").
SERVER_SETTINGS = {"uncompressed_cache_size": str(256 << 20)}
SESSION_SETTINGS = {"use_uncompressed_cache": "1"}
# URL parameters of the HTTP interface itself (or settings only meaningful for it).
HTTP_ONLY = frozenset(
    (
        "query", "database", "default_format", "user", "password", "quota_key", "query_id",
        "session_id", "session_timeout", "session_check", "compress", "decompress",
        "buffer_size", "wait_end_of_query", "client_protocol_version", "role", "stacktrace",
        "close_session", "enable_http_compression", "send_progress_in_http_headers",
        "cancel_http_readonly_queries_on_client_close", "add_http_cors_header",
    )
)  # fmt: skip
# ClickHouse's exceptionCodeToHTTPStatus, by error name; anything else is a 500.
_STATUS_NAMES = {
    401: "REQUIRED_PASSWORD",
    403: "UNKNOWN_USER WRONG_PASSWORD AUTHENTICATION_FAILED ACCESS_DENIED",
    400: "BAD_ARGUMENTS CANNOT_COMPILE_REGEXP CANNOT_PARSE_TEXT CANNOT_PARSE_ESCAPE_SEQUENCE "
    "CANNOT_PARSE_QUOTED_STRING CANNOT_PARSE_DATE CANNOT_PARSE_DATETIME CANNOT_PARSE_NUMBER "
    "CANNOT_PARSE_DOMAIN_VALUE_FROM_STRING CANNOT_PARSE_IPV4 CANNOT_PARSE_IPV6 CANNOT_PARSE_UUID "
    "CANNOT_PARSE_INPUT_ASSERTION_FAILED DUPLICATE_COLUMN ILLEGAL_COLUMN UNKNOWN_ELEMENT_IN_AST "
    "UNKNOWN_TYPE_OF_AST_NODE THERE_IS_NO_COLUMN TOO_DEEP_AST TOO_BIG_AST UNEXPECTED_AST_STRUCTURE "
    "SYNTAX_ERROR INCORRECT_DATA TYPE_MISMATCH VALUE_IS_OUT_OF_RANGE_OF_DATA_TYPE "
    "CANNOT_DECOMPRESS",
    404: "UNKNOWN_TABLE UNKNOWN_FUNCTION UNKNOWN_IDENTIFIER UNKNOWN_TYPE UNKNOWN_STORAGE "
    "UNKNOWN_DATABASE UNKNOWN_SETTING UNKNOWN_DIRECTION_OF_SORTING UNKNOWN_AGGREGATE_FUNCTION "
    "UNKNOWN_FORMAT UNKNOWN_DATABASE_ENGINE UNKNOWN_TYPE_OF_QUERY UNKNOWN_ROLE",
    408: "TIMEOUT_EXCEEDED",
    413: "QUERY_IS_TOO_LARGE",
    501: "NOT_IMPLEMENTED",
    503: "SOCKET_TIMEOUT CANNOT_OPEN_FILE CANNOT_SCHEDULE_TASK ABORTED",
}
STATUS_BY_ERROR = {name: code for code, names in _STATUS_NAMES.items() for name in names.split()}
CONTENT_TYPES = (
    ("JSON", "application/json; charset=UTF-8"),
    ("CSV", "text/csv; charset=UTF-8"),
    ("TSV", "text/tab-separated-values; charset=UTF-8"),
    ("TabSeparated", "text/tab-separated-values; charset=UTF-8"),
)
# chdb's Python wrapper turns these "formats" into Python objects, not bytes.
PYTHON_FORMATS = frozenset({"dataframe", "arrowtable", "datastore", "debug"})


class ServerError(Exception):
    """A ClickHouse exception: ``Code: N. DB::Exception: message. (NAME)``."""

    def __init__(self, code: int, name: str, message: str) -> None:
        super().__init__(message)
        self.code, self.name, self.message = code, name, message

    @property
    def status(self) -> int:
        return STATUS_BY_ERROR.get(self.name, 500)

    def text(self, version: str) -> str:
        text = f"Code: {self.code}. DB::Exception: {self.message}"
        if not text.endswith(f"({self.name})"):
            text += f". ({self.name})"
        return f"{text} (version {version})\n"


def from_chdb(exc: BaseException) -> ServerError:
    """chdb reports ``...Code: 60. DB::Exception: text. (UNKNOWN_TABLE) (version x)``."""
    text = str(exc).strip()
    found = re.search(r"Code: (\d+)\. DB::Exception: (.*)", text, re.S)
    if not found:
        return ServerError(1001, "STD_EXCEPTION", text or type(exc).__name__)
    message = re.sub(r" \(version [^)]*\)$", "", found.group(2).strip())
    name = re.search(r"\(([A-Z][A-Z0-9_]*)\)$", message)
    return ServerError(int(found.group(1)), name.group(1) if name else "STD_EXCEPTION", message)


# --- what a statement is -------------------------------------------------------------------

_TOKEN = re.compile(
    rb"(?P<ws>\s+)|(?P<comment>--[^\n]*|/\*.*?\*/)"
    rb"|(?P<quoted>'(?:[^'\\]|\\.)*'|\"(?:[^\"\\]|\\.)*\"|`(?:[^`\\]|\\.)*`)"
    rb"|(?P<word>[A-Za-z_][A-Za-z0-9_]*)|(?P<other>.)",
    re.S,
)
_FORMAT_TAIL = re.compile(
    rb"\s+([A-Za-z_][A-Za-z0-9_]*)(?:[ \t]+(SETTINGS\b[^\r\n]*))?[ \t\f]*\r?\n?", re.I
)
_RESULT_WORDS = frozenset(b"SELECT WITH SHOW DESC DESCRIBE EXPLAIN EXISTS CHECK (".split())
_NOT_A_CLAUSE_AFTER = frozenset({b"INTO", b"TABLE", b"FUNCTION", b"."})
# After these a "format" is a column or table name, not the FORMAT clause.
_EXPRESSION_BEFORE = frozenset(
    b"SELECT DISTINCT AS BY FROM JOIN ON USING WHERE PREWHERE HAVING AND OR NOT , . = < > + - *"
    b" / %".split()
)


@dataclass(frozen=True)
class Statement:
    insert_sql: str | None = None  # INSERT without FORMAT and data: the data streams into it
    data_format: str = ""
    data_start: int = 0
    produces_result: bool = False
    output_format: str | None = None  # an explicit FORMAT clause of a result-producing statement
    stateful: bool = False  # changes the connection's state (SET, USE, temporary tables)


def _tokens(sql: bytes, pos: int = 0) -> Iterator[re.Match[bytes]]:
    # Every character starts a token (``other`` matches any one), so the matches are
    # contiguous; finditer walks them in C, about twice as fast as matching in a loop.
    for token in _TOKEN.finditer(sql, pos):
        if token.lastgroup not in ("ws", "comment"):
            yield token


def analyse(sql: bytes) -> Statement:
    tokens = _tokens(sql)
    first = next(tokens, None)
    word = first.group().upper() if first else b""
    if word == b"INSERT":
        return _analyse_insert(sql, tokens)
    if word in _RESULT_WORDS:
        return Statement(produces_result=True, output_format=_trailing_format(_tokens(sql)))
    if word == b"CREATE":
        # CREATE [OR REPLACE] TEMPORARY TABLE: the table lives in the connection
        return Statement(stateful=any(t.group().upper() == b"TEMPORARY" for t in islice(tokens, 3)))
    return Statement(stateful=word in (b"SET", b"USE"))


def _trailing_format(tokens: Iterator[re.Match[bytes]]) -> str | None:
    depth, top = 0, []
    for token in tokens:
        text = token.group()
        depth += (text == b"(") - (text == b")")
        if depth == 0 and text != b")":
            top.append(token)
    words = [b")"] + [token.group().upper() for token in top] + [b";"]  # with sentinels
    for i in range(len(top) - 2, -1, -1):
        is_clause = words[i + 1] == b"FORMAT" and words[i] not in _EXPRESSION_BEFORE
        if is_clause and top[i + 1].lastgroup == "word" and words[i + 3] in (b";", b"SETTINGS"):
            return top[i + 1].group().decode()
    return None


def _analyse_insert(sql: bytes, tokens: Iterator[re.Match[bytes]]) -> Statement:
    depth, previous = 0, b""
    for token in tokens:
        text = token.group()
        word = text.upper()
        depth += (text == b"(") - (text == b")")
        if depth == 0 and token.lastgroup == "word" and previous not in _NOT_A_CLAUSE_AFTER:
            if word in (b"SELECT", b"WITH", b"INFILE", b"WATCH"):
                return Statement()  # no data in the request: an ordinary query
            if word == b"VALUES":
                head = sql[: token.start()].decode(errors="replace")
                return Statement(insert_sql=head, data_format="Values", data_start=token.end())
            if word == b"FORMAT":
                return _insert_with_format(sql, token)
        previous = word
    return Statement()


def _insert_with_format(sql: bytes, keyword: re.Match[bytes]) -> Statement:
    tail = _FORMAT_TAIL.match(sql, keyword.end())
    if tail is None:
        raise ServerError(62, "SYNTAX_ERROR", "Syntax error: expected a format name after FORMAT")
    head = sql[: keyword.start()] + (b" " + tail.group(2) if tail.group(2) else b"")
    return Statement(
        insert_sql=head.decode(errors="replace"),
        data_format=tail.group(1).decode(),
        data_start=tail.end(),
    )


# --- the engine ----------------------------------------------------------------------------


class _Result(Protocol):
    def rows_read(self) -> int: ...
    def bytes_read(self) -> int: ...
    def rows_written(self) -> int: ...
    def bytes_written(self) -> int: ...
    def bytes(self) -> builtins.bytes | None: ...


class _Inserted(Protocol):
    rows_written: int
    bytes_written: int


class _Inserter(Protocol):
    def append(self, data: bytes) -> None: ...
    def finish(self) -> _Inserted: ...
    def cancel(self) -> None: ...


class _Connection(Protocol):
    def query(self, sql: bytes, fmt: str, params: dict[str, str]) -> _Result: ...
    def send_insert(self, sql: str, fmt: str) -> _Inserter: ...
    def close(self) -> None: ...


@dataclass
class Request:
    sql: bytes
    database: str = ""
    settings: dict[str, str] = field(default_factory=dict)
    params: dict[str, str] = field(default_factory=dict)
    default_format: str = "TabSeparated"
    query_id: str = ""


@dataclass
class Outcome:
    body: bytes
    result_format: str | None  # None: the statement produced no result set
    summary: dict[str, str]


_Key = tuple[str, tuple[tuple[str, str], ...]]


def quote_ident(name: str) -> str:
    return "`" + name.replace("\\", "\\\\").replace("`", "\\`") + "`"


def quote_string(value: str) -> str:
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


class Engine:
    """The one chdb engine of this process, and a pool of its connections."""

    def __init__(
        self,
        path: Path,
        max_idle: int = 32,
        max_concurrent: int = 16,
        server_settings: dict[str, str] | None = None,
        session_settings: dict[str, str] | None = None,
    ) -> None:
        import chdb  # imported late: the engine reads TZ when it first starts

        self._connect = cast(Callable[[str], _Connection], chdb.connect)
        self._path = str(path)
        # chdb takes server settings as startup arguments in the connection string of the
        # connection that starts the engine; query-level ones there apply to that connection.
        self._session = _connection_string(self._path, session_settings or {})
        anchor = _connection_string(
            self._path, {**(server_settings or {}), **(session_settings or {})}
        )
        self._anchor = self._connect(anchor)  # keeps the engine up while the pool is empty
        row = self._anchor.query(b"SELECT version(), timezone()", "TabSeparated", {}).bytes()
        self.version, self.timezone = (row or b"\t").decode().strip().split("\t")
        self._idle: list[tuple[_Key, _Connection]] = []
        self._max_idle = max_idle
        self._slots = threading.BoundedSemaphore(max_concurrent)
        self._cond = threading.Condition()
        self._active = 0
        self._closing = False

    def execute(self, request: Request) -> Outcome:
        statement = analyse(request.sql)
        # readonly goes last: once it is set, other settings could no longer change
        ordered = sorted(request.settings.items(), key=lambda item: (item[0] == "readonly", item))
        key: _Key = (request.database, tuple(ordered))
        with self._slots:
            conn = self._acquire(key)
            reuse = False
            try:
                outcome = self._run(conn, statement, request)
                reuse = not statement.stateful
                return outcome
            except RuntimeError as exc:  # chdb raises RuntimeError (ChdbError) subclasses
                reuse = not statement.stateful
                raise from_chdb(exc) from None
            finally:
                self._release(key, conn, reuse)

    def _run(self, conn: _Connection, statement: Statement, request: Request) -> Outcome:
        started = time.perf_counter_ns()
        # VALUES with {name:Type} placeholders needs the SQL parser's parameter substitution
        if statement.insert_sql is not None and not (
            request.params and statement.data_format == "Values"
        ):
            data = request.sql[statement.data_start :]
            rows, size = self._insert(conn, statement.insert_sql, statement.data_format, data)
            summary = {"read_rows": 0, "read_bytes": 0, "written_rows": rows, "written_bytes": size}
            summary |= {"result_rows": rows, "result_bytes": size}
            return Outcome(b"", None, _summary(summary, started))
        result = conn.query(request.sql, request.default_format, request.params)
        body = result.bytes() or b""
        summary = {"read_rows": result.rows_read(), "read_bytes": result.bytes_read()}
        summary |= {"written_rows": result.rows_written(), "written_bytes": result.bytes_written()}
        summary |= {"result_bytes": len(body)}
        fmt = statement.output_format or request.default_format
        return Outcome(body, fmt if statement.produces_result else None, _summary(summary, started))

    @staticmethod
    def _insert(conn: _Connection, sql: str, fmt: str, data: bytes) -> tuple[int, int]:
        inserter = conn.send_insert(sql, fmt)
        try:
            if data:
                inserter.append(data)
            done = inserter.finish()
        except BaseException:
            with suppress(RuntimeError):  # when finish() failed the stream is already closed
                inserter.cancel()
            raise
        return done.rows_written, done.bytes_written

    @contextmanager
    def in_flight(self) -> Iterator[None]:
        """Brackets a whole HTTP request, so close() waits until its answer is sent."""
        with self._cond:
            self._active += 1
        try:
            yield
        finally:
            with self._cond:
                self._active -= 1
                self._cond.notify_all()

    def _acquire(self, key: _Key) -> _Connection:
        with self._cond:
            if self._closing:
                raise ServerError(236, "ABORTED", "Server is shutting down")
            for i in range(len(self._idle) - 1, -1, -1):
                if self._idle[i][0] == key:
                    return self._idle.pop(i)[1]
        return self._open(key)

    def _open(self, key: _Key) -> _Connection:
        conn = self._connect(self._session)
        database, settings = key
        statements = [f"USE {quote_ident(database)}"] if database else []
        statements += [f"SET {name} = {quote_string(value)}" for name, value in settings]
        try:
            for sql in statements:
                conn.query(sql.encode(), "TabSeparated", {})
        except RuntimeError as exc:
            conn.close()
            raise from_chdb(exc) from None
        return conn

    def _release(self, key: _Key, conn: _Connection, reuse: bool) -> None:
        evicted: _Connection | None = conn
        with self._cond:
            if reuse and not self._closing:
                self._idle.append((key, conn))
                evicted = self._idle.pop(0)[1] if len(self._idle) > self._max_idle else None
        if evicted is not None:
            evicted.close()

    def close(self, timeout: float = 10.0) -> None:
        with self._cond:
            self._closing = True
            if not self._cond.wait_for(lambda: self._active == 0, timeout):
                log.warning("closing with %d requests still running", self._active)
            idle, self._idle = self._idle, []
        for _, conn in idle:
            conn.close()
        self._anchor.close()


def _connection_string(path: str, settings: dict[str, str]) -> str:
    return path + ("?" + "&".join(f"{k}={v}" for k, v in settings.items()) if settings else "")


def _summary(values: dict[str, int], started_ns: int) -> dict[str, str]:
    values = {**values, "total_rows_to_read": values["read_rows"]}
    values["elapsed_ns"] = time.perf_counter_ns() - started_ns
    return {name: str(value) for name, value in values.items()}


# --- HTTP ----------------------------------------------------------------------------------


def read_body(rfile: BufferedIOBase, headers: Any) -> bytes:
    if "chunked" in headers.get("Transfer-Encoding", "").lower():
        return _read_chunked(rfile)
    length = int(headers.get("Content-Length") or 0)
    body = rfile.read(length) if length else b""
    if len(body) != length:
        raise ConnectionError("request body ended early")
    return body


def _read_chunked(rfile: BufferedIOBase) -> bytes:
    parts = []
    while size := int(rfile.readline(1024).split(b";")[0].strip() or b"0", 16):
        parts.append(rfile.read(size))
        if len(parts[-1]) != size or rfile.readline(3).strip():
            raise ConnectionError("malformed chunked request body")
    while rfile.readline(65536).strip():
        pass  # trailer headers
    return b"".join(parts)


def decompress(body: bytes, encoding: str) -> bytes:
    encoding = encoding.strip().lower()
    try:
        if encoding in ("", "identity", "none"):
            return body
        if encoding == "lz4":
            return _lz4_frames(body)
        if encoding == "zstd":
            return _zstd_frames(body)
        if encoding in ("gzip", "x-gzip"):
            return gzip.decompress(body)
        if encoding == "deflate":
            return zlib.decompress(body)
    except (RuntimeError, ValueError, OSError, EOFError, zlib.error, zstandard.ZstdError) as exc:
        message = f"Cannot decode {encoding} body: {exc}"
        raise ServerError(271, "CANNOT_DECOMPRESS", message) from None
    raise ServerError(48, "NOT_IMPLEMENTED", f"Unsupported Content-Encoding: {encoding}")


def _zstd_frames(body: bytes) -> bytes:
    frames = zstandard.ZstdDecompressor().decompressobj(read_across_frames=True)
    return frames.decompress(body)


def _lz4_frames(body: bytes) -> bytes:
    """clickhouse-connect sends one lz4 frame per block, so the body is a run of frames.

    Fed in pieces: the decompressor copies what follows a frame into ``unused_data``.
    """
    out: list[bytes] = []
    frames, partial = lz4.frame.LZ4FrameDecompressor(), False
    for start in range(0, len(body), 1 << 18):
        data = body[start : start + (1 << 18)]
        while data:
            out.append(frames.decompress(data))
            partial = not frames.eof
            if partial:
                break
            data, frames = frames.unused_data or b"", lz4.frame.LZ4FrameDecompressor()
    if partial:
        raise ValueError("truncated lz4 frame")
    return b"".join(out)


def form_fields(body: bytes, content_type: str) -> dict[str, str]:
    """multipart/form-data: clickhouse-connect sends long query parameters this way."""
    head = f"Content-Type: {content_type}\r\n\r\n".encode("latin-1")
    message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(head + body)
    fields = {}
    for part in message.walk():
        if part.is_multipart():
            continue
        if part.get_filename() is not None:
            raise ServerError(48, "NOT_IMPLEMENTED", "External data is not supported")
        name = str(part.get_param("name", header="content-disposition") or "")
        fields[name] = cast(bytes, part.get_payload(decode=True) or b"").decode()
    return fields


def build_request(params: dict[str, str], body: bytes, readonly: bool) -> Request:
    query = params.get("query", "")
    sql = (query.encode() + b"\n" if query and body else query.encode()) + body
    if not sql.strip():
        raise ServerError(62, "SYNTAX_ERROR", "Empty query")
    if params.get("decompress") in ("1", "true"):
        raise ServerError(48, "NOT_IMPLEMENTED", "decompress=1 (ClickHouse block compression)")
    settings = {k: v for k, v in params.items() if k not in HTTP_ONLY and not k.startswith("http_")}
    settings = {k: v for k, v in settings.items() if not k.startswith("param_")}
    for name in settings:
        if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", name):
            raise ServerError(115, "UNKNOWN_SETTING", f"Unknown setting '{name}'")
    if readonly and "readonly" not in settings:
        settings["readonly"] = "2"  # as ClickHouse does for GET
    default_format = params.get("default_format") or "TabSeparated"
    if default_format.lower() in PYTHON_FORMATS:
        raise ServerError(73, "UNKNOWN_FORMAT", f"Unknown output format {default_format}")
    return Request(
        sql=sql,
        database=params.get("database", ""),
        settings=settings,
        params={k[6:]: v for k, v in params.items() if k.startswith("param_")},
        default_format=default_format,
        query_id=re.sub(r"[^\x20-\x7e]", "", params.get("query_id", "")) or str(uuid.uuid4()),
    )


class ChdbHTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 128

    def __init__(self, address: tuple[str, int], engine: Engine) -> None:
        self.engine = engine
        self.display_name = socket.gethostname()
        super().__init__(address, Handler)


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "chdb-clickhouse"
    timeout = KEEP_ALIVE_S
    server: ChdbHTTPServer

    def setup(self) -> None:
        super().setup()
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def do_GET(self) -> None:
        self._serve(readonly=True)

    def do_POST(self) -> None:
        self._serve(readonly=False)

    def _serve(self, readonly: bool) -> None:
        with self.server.engine.in_flight():
            self._handle(readonly)

    def _handle(self, readonly: bool) -> None:
        started = time.perf_counter()
        request: Request | None = None
        try:
            url = urlsplit(self.path)
            params = dict(parse_qsl(url.query, keep_blank_values=True))
            body = read_body(self.rfile, self.headers)
            if url.path == "/ping" or (self.command == "GET" and url.path == "/" and not params):
                return self._reply(200, b"Ok.\n", {"Content-Type": "text/html; charset=UTF-8"})
            if url.path != "/":
                return self._reply(404, f"There is no handle {url.path}\n".encode(), {})
            content_type = self.headers.get("Content-Type", "")
            body = decompress(body, self.headers.get("Content-Encoding", ""))
            if content_type.startswith("multipart/form-data"):
                params |= form_fields(body, content_type)
                body = b""
            request = build_request(params, body, readonly)
            outcome = self.server.engine.execute(request)
            self._reply(200, outcome.body, self._headers(request, outcome))
            if log.isEnabledFor(logging.DEBUG):
                log.debug("%s %.1fms %s", self.command, _ms(started), _preview(request.sql))
        except ServerError as exc:
            self._fail(exc, request, started)
        except ConnectionError as exc:
            self.close_connection = True
            log.warning("%s: %s", self.client_address[0], exc)
        except Exception as exc:  # a bug here must not kill the connection thread silently
            log.exception("internal error")
            self.close_connection = True  # the request body may be half read
            self._fail(ServerError(1001, "STD_EXCEPTION", repr(exc)), request, started)

    def _headers(self, request: Request, outcome: Outcome) -> dict[str, str]:
        headers = {
            "Content-Type": _content_type(outcome.result_format),
            "X-ClickHouse-Server-Display-Name": self.server.display_name,
            "X-ClickHouse-Query-Id": request.query_id,
            "X-ClickHouse-Timezone": self.server.engine.timezone,
            "X-ClickHouse-Summary": json.dumps(outcome.summary, separators=(",", ":")),
        }
        if outcome.result_format is not None:
            headers["X-ClickHouse-Format"] = outcome.result_format
        if request.database:
            headers["X-ClickHouse-Database"] = request.database
        return headers

    def _fail(self, exc: ServerError, request: Request | None, started: float) -> None:
        headers = {
            "Content-Type": "text/plain; charset=UTF-8",
            "X-ClickHouse-Exception-Code": str(exc.code),
            "X-ClickHouse-Server-Display-Name": self.server.display_name,
        }
        if request is not None:
            headers["X-ClickHouse-Query-Id"] = request.query_id
        self._reply(exc.status, exc.text(self.server.engine.version).encode(), headers)
        sql = _preview(request.sql) if request else self.path[:200]
        log.warning("%s %.1fms %s -> %s", self.command, _ms(started), sql, exc.message[:500])

    def _reply(self, status: int, body: bytes, headers: dict[str, str]) -> None:
        lines = [f"HTTP/1.1 {status} {HTTPStatus(status).phrase}", f"Content-Length: {len(body)}"]
        lines.append("Connection: close" if self.close_connection else "Connection: Keep-Alive")
        if not self.close_connection:
            lines.append(f"Keep-Alive: timeout={KEEP_ALIVE_S}")
        lines += [f"{name}: {value}" for name, value in headers.items()]
        self.wfile.write(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body)

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("%s %s", self.client_address[0], format % args)


def _content_type(fmt: str | None) -> str:
    if fmt is None:
        return "text/plain; charset=UTF-8"
    kinds = (kind for prefix, kind in CONTENT_TYPES if fmt.startswith(prefix))
    return next(kinds, "application/octet-stream")


def _ms(started: float) -> float:
    return (time.perf_counter() - started) * 1000


def _preview(sql: bytes) -> str:
    return " ".join(sql[:200].decode(errors="replace").split())


# --- process -------------------------------------------------------------------------------


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8123)
    parser.add_argument("--path", type=Path, required=True, help="chdb data folder (locked)")
    parser.add_argument("--pid-file", type=Path)
    parser.add_argument("--timezone", default="UTC", help="the server timezone (default UTC)")
    parser.add_argument("--max-concurrent-queries", type=int, default=16)
    parser.add_argument(
        "--server-setting", action="append", default=[], type=_setting, metavar="NAME=VALUE",
        help="a ClickHouse server setting (repeatable)",
    )  # fmt: skip
    parser.add_argument(
        "--session-setting", action="append", default=[], type=_setting, metavar="NAME=VALUE",
        help="a query-level setting every connection starts with (repeatable)",
    )  # fmt: skip
    parser.add_argument("--log-level", default=os.environ.get("SOCIALPULSE_LOG_LEVEL", "INFO"))
    return parser.parse_args(argv)


def _setting(text: str) -> tuple[str, str]:
    name, sep, value = text.partition("=")
    if (
        not sep
        or not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_.]*", name)
        or not re.fullmatch(r"[\w.-]*", value)
    ):
        raise argparse.ArgumentTypeError(f"expected NAME=VALUE, got {text!r}")
    return name, value


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    logging.basicConfig(
        level=args.log_level.upper(),
        stream=sys.stderr,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    try:
        server = start(args)
    except (RuntimeError, OSError) as exc:  # data folder locked, port taken, ...
        log.error("cannot start: %s", exc)
        return 1
    _on_stop_signals(lambda: threading.Thread(target=server.shutdown, daemon=True).start())
    if args.pid_file:
        args.pid_file.write_text(f"{os.getpid()}\n")
    log.info("ClickHouse %s (chdb) on %s:%d", server.engine.version, args.host, args.port)
    try:
        server.serve_forever(poll_interval=0.25)
    finally:
        server.server_close()
        server.engine.close()
        if args.pid_file:
            args.pid_file.unlink(missing_ok=True)
        log.info("stopped")
    return 0


def start(args: argparse.Namespace) -> ChdbHTTPServer:
    os.environ["TZ"] = args.timezone  # before chdb starts its engine
    time.tzset()
    args.path.mkdir(parents=True, exist_ok=True)
    engine = Engine(
        args.path.resolve(),
        max_concurrent=args.max_concurrent_queries,
        server_settings=dict(SERVER_SETTINGS, **dict(args.server_setting)),
        session_settings=dict(SESSION_SETTINGS, **dict(args.session_setting)),
    )
    try:
        return ChdbHTTPServer((args.host, args.port), engine)
    except OSError:
        engine.close()
        raise


def _on_stop_signals(stop: Callable[[], None]) -> None:
    def handler(signum: int, frame: FrameType | None) -> None:
        log.info("%s: shutting down", signal.Signals(signum).name)
        stop()

    signal.signal(signal.SIGTERM, handler)
    signal.signal(signal.SIGINT, handler)


if __name__ == "__main__":
    sys.exit(main())
