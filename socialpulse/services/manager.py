"""``socialpulse services up|down|status``: the local Kafka, ClickHouse and Redis.

A service whose URL setting was set explicitly (``SOCIALPULSE_KAFKA_BOOTSTRAP``,
``SOCIALPULSE_CLICKHOUSE_URL``, ``SOCIALPULSE_REDIS_URL``) is external: it is
never started or stopped here, only probed. The others run as background
processes under ``var_dir/<name>/`` (config, data, ``<name>.log``,
``<name>.pid``).

:func:`up` raises :class:`ServicesError` when a service does not come up; the
error carries every service's status, for the table.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from socialpulse.services.clickhouse import ClickHouseService
from socialpulse.services.kafka import KafkaService
from socialpulse.services.process import LocalService, ServiceError, Started, read_pid
from socialpulse.services.redis import RedisService
from socialpulse.settings import ServicesSettings

State = Literal["running", "stopped", "external", "starting-failed"]

SERVICES: tuple[type[LocalService], ...] = (KafkaService, ClickHouseService, RedisService)
SERVICE_NAMES: tuple[str, ...] = tuple(service.name for service in SERVICES)
PROBE_TIMEOUT_S = 3.0


@dataclass(frozen=True)
class ServiceStatus:
    name: str
    url: str
    state: State
    pid: int | None = None
    detail: str = ""


class ServicesError(RuntimeError):
    """Some service did not come up; ``statuses`` says how each one stands."""

    def __init__(self, message: str, statuses: list[ServiceStatus]) -> None:
        super().__init__(message)
        self.statuses = statuses


def with_local_urls(settings: ServicesSettings, **urls: Any) -> ServicesSettings:
    """A copy of ``settings`` with these URLs, still counted as *not* set by the user.

    For test fixtures and scripts that run the local services on other ports:
    a URL set the ordinary way means "external", so ``up`` would not start it.
    """
    unknown = set(urls) - {service.setting for service in SERVICES}
    if unknown:
        raise ValueError(f"not service URL settings: {sorted(unknown)}")
    values = {**settings.model_dump(), **urls}
    return type(settings).model_construct(
        _fields_set=set(settings.model_fields_set) - set(urls), **values
    )


def _services(settings: ServicesSettings, names: Iterable[str] | None) -> list[LocalService]:
    wanted = SERVICE_NAMES if names is None else tuple(names)
    unknown = set(wanted) - set(SERVICE_NAMES)
    if unknown:
        raise ValueError(f"unknown services {sorted(unknown)}; known: {list(SERVICE_NAMES)}")
    return [service(settings) for service in SERVICES if service.name in wanted]


def _external_status(service: LocalService) -> ServiceStatus:
    try:
        detail = f"set by you; answers: {service.probe(PROBE_TIMEOUT_S)}"
    except Exception as exc:  # report any failure to answer, do not raise
        detail = f"set by you; not answering: {type(exc).__name__}: {exc}"
    return ServiceStatus(service.name, service.url, "external", None, detail)


def _status(service: LocalService) -> ServiceStatus:
    if service.external:
        return _external_status(service)
    pid = service.running_pid()
    if pid is None:
        notes = ["not running"]
        stale = read_pid(service.pid_file)
        if stale is not None:
            notes.append(f"stale pid file (pid {stale} no longer runs this service)")
        try:
            busy = service.busy_ports()
        except ServiceError as exc:
            busy, notes = [], [*notes, str(exc)]
        if busy:
            notes.append(f"{', '.join(busy)} in use by a process we did not start")
        return ServiceStatus(service.name, service.url, "stopped", None, "; ".join(notes))
    try:
        detail = service.probe(PROBE_TIMEOUT_S)
    except Exception as exc:  # alive but not (yet) answering
        detail = f"process alive but not answering: {type(exc).__name__}: {exc}"
    return ServiceStatus(service.name, service.url, "running", pid, detail)


def status(settings: ServicesSettings, names: Sequence[str] | None = None) -> list[ServiceStatus]:
    """How each service stands; external ones are probed, never touched."""
    return [_status(service) for service in _services(settings, names)]


def up(settings: ServicesSettings, names: Sequence[str] | None = None) -> list[ServiceStatus]:
    """Start the local services that do not run yet and wait until each answers.

    Idempotent: a service that already runs is reported as running. All are
    launched first, then awaited, so the slowest (Kafka) sets the pace.
    """
    services = _services(settings, names)
    results: dict[str, ServiceStatus] = {}
    launched: list[tuple[LocalService, Started]] = []
    for service in services:
        if service.external:
            results[service.name] = _external_status(service)
            continue
        try:
            launched.append((service, service.launch()))
        except (ServiceError, ValueError) as exc:
            results[service.name] = _failed(service, exc)
    for service, started in launched:
        try:
            detail = service.wait_ready(started)
        except ServiceError as exc:
            results[service.name] = _failed(service, exc)
            continue
        results[service.name] = ServiceStatus(
            service.name, service.url, "running", started.pid, detail
        )
    statuses = [results[service.name] for service in services]
    failed = [s for s in statuses if s.state == "starting-failed"]
    if failed:
        message = "\n\n".join(f"{s.name} did not come up: {s.detail}" for s in failed)
        raise ServicesError(message, statuses)
    return statuses


def _failed(service: LocalService, exc: Exception) -> ServiceStatus:
    return ServiceStatus(service.name, service.url, "starting-failed", None, str(exc))


def down(settings: ServicesSettings, names: Sequence[str] | None = None) -> list[ServiceStatus]:
    """Stop the services we started (per their pid files); external ones stay as they are."""
    statuses: list[ServiceStatus] = []
    for service in _services(settings, names):
        if service.external:
            statuses.append(_external_status(service))
            continue
        pid, clean = service.stop()
        if pid is None:
            detail = "was not running"
        elif clean:
            detail = f"stopped pid {pid}"
        else:
            detail = f"pid {pid} ignored SIGTERM for {service.stop_timeout_s:g} s; killed"
        statuses.append(ServiceStatus(service.name, service.url, "stopped", None, detail))
    return statuses


def format_table(statuses: Sequence[ServiceStatus]) -> str:
    """A plain-text table; multi-line details (a failed start's log) follow it."""
    header = ("SERVICE", "STATE", "PID", "URL", "DETAIL")
    rows = [
        (s.name, s.state, "-" if s.pid is None else str(s.pid), s.url,
         s.detail.splitlines()[0] if s.detail else "")
        for s in statuses
    ]  # fmt: skip
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header) - 1)]
    lines = [
        "  ".join([*(cell.ljust(width) for cell, width in zip(row, widths, strict=False)),
                   row[-1]]).rstrip()
        for row in [header, *rows]
    ]  # fmt: skip
    for s in statuses:
        if "\n" in s.detail:
            lines += ["", f"{s.name}:", *(f"  {line}" for line in s.detail.splitlines())]
    return "\n".join(lines)
