"""Shared helpers for the local service processes.

Start a detached background process (its own session, output appended to a log
file under ``var_dir/<service>/``), keep its pid in a pid file, tell whether it
is still alive (and still the process we started), stop it (SIGTERM, wait,
then SIGKILL) and wait until it answers, failing with the tail of its log.

:class:`LocalService` is the base of the Kafka, ClickHouse and Redis services:
each says which ports it needs, how to prepare its files, which command to run
and how to probe it; the base class does the rest.
"""

from __future__ import annotations

import contextlib
import os
import shlex
import shutil
import signal
import socket
import subprocess
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import ClassVar

from socialpulse.settings import ServicesSettings


class ServiceError(RuntimeError):
    """A local service could not be prepared, started, reached or stopped."""


@dataclass(frozen=True)
class Started:
    """A process we started (or found running): its pid and where its log begins."""

    pid: int
    log_offset: int = 0


# Children of this process, kept so that they are reaped (no zombies) when they exit.
_CHILDREN: dict[int, subprocess.Popen[bytes]] = {}


def start_detached(
    args: Sequence[str],
    *,
    cwd: Path,
    log_file: Path,
    pid_file: Path,
    env: Mapping[str, str] | None = None,
) -> Started:
    """Start ``args`` in its own session, output appended to ``log_file``."""
    log_file.parent.mkdir(parents=True, exist_ok=True)
    with log_file.open("ab") as log:
        offset = log.tell()
        stamp = datetime.now(UTC).isoformat(timespec="seconds")
        log.write(f"--- {stamp} socialpulse starts: {shlex.join(args)}\n".encode())
        log.flush()
        try:
            proc = subprocess.Popen(
                list(args),
                cwd=cwd,
                env=None if env is None else dict(env),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                close_fds=True,
            )
        except OSError as exc:
            raise ServiceError(f"cannot run {shlex.join(args)}: {exc}") from exc
    _CHILDREN[proc.pid] = proc
    write_pid(pid_file, proc.pid)
    return Started(proc.pid, offset)


def write_pid(pid_file: Path, pid: int) -> None:
    pid_file.parent.mkdir(parents=True, exist_ok=True)
    tmp = pid_file.with_name(pid_file.name + ".tmp")
    tmp.write_text(f"{pid}\n")
    tmp.replace(pid_file)


def read_pid(pid_file: Path) -> int | None:
    try:
        return int(pid_file.read_text().strip())
    except (OSError, ValueError):
        return None


def remove_pid(pid_file: Path) -> None:
    pid_file.unlink(missing_ok=True)


def _proc_state(pid: int) -> str | None:
    """The state letter from /proc (``Z`` for a zombie), or None when unknown."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return stat.rpartition(")")[2].split()[0] if ")" in stat else None


def _cmdline(pid: int) -> str | None:
    """The command line of ``pid``, or None when it cannot be read.

    A starting process can show an empty one for a moment (Redis rewrites its
    argv area at start-up), so an empty answer is read again before it counts.
    """
    for _ in range(5):
        try:
            raw = Path(f"/proc/{pid}/cmdline").read_bytes()
        except OSError:
            return None
        if raw:
            return raw.replace(b"\0", b" ").decode(errors="replace")
        time.sleep(0.02)
    return None


def is_alive(pid: int, marker: str | None = None) -> bool:
    """True while ``pid`` runs and, when ``marker`` is given, its command line has it.

    The marker (the service's own folder) guards against a recycled pid: after a
    reboot the number in a stale pid file may belong to someone else's process.
    A child of this very process needs no marker: it is reaped when it exits.
    """
    child = _CHILDREN.get(pid)
    if child is not None:
        if child.poll() is None:
            return True
        del _CHILDREN[pid]
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass  # it exists, it is just not ours to signal
    if _proc_state(pid) in ("Z", "X"):
        return False
    if marker is None:
        return True
    cmdline = _cmdline(pid)
    return cmdline is None or marker in cmdline


def _send(pid: int, sig: signal.Signals) -> None:
    """Signal the process group when ``pid`` leads one (we start each in its own session)."""
    with contextlib.suppress(ProcessLookupError):
        if os.getpgid(pid) == pid:
            os.killpg(pid, sig)
        else:
            os.kill(pid, sig)


def _wait_gone(pid: int, timeout: float, marker: str | None) -> bool:
    deadline = time.monotonic() + timeout
    while is_alive(pid, marker):
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.1)
    return True


def stop(pid: int, *, timeout: float, marker: str | None = None) -> bool:
    """SIGTERM, up to ``timeout`` seconds for a clean exit, then SIGKILL.

    Returns True when the process exited on SIGTERM, False when it had to be killed.
    """
    if not is_alive(pid, marker):
        return True
    _send(pid, signal.SIGTERM)
    if _wait_gone(pid, timeout, marker):
        return True
    _send(pid, signal.SIGKILL)
    if not _wait_gone(pid, 10.0, marker):
        raise ServiceError(f"process {pid} survived SIGKILL")
    return False


def log_tail(log_file: Path, offset: int = 0, lines: int = 40) -> str:
    """The last ``lines`` lines of ``log_file`` written after ``offset``."""
    try:
        with log_file.open("rb") as fh:
            fh.seek(offset)
            text = fh.read().decode(errors="replace")
    except OSError as exc:
        return f"(no log at {log_file}: {exc})"
    tail = text.splitlines()[-lines:]
    if not tail:
        return f"({log_file} is empty)"
    body = "\n".join(f"  | {line}" for line in tail)
    return f"last lines of {log_file}:\n{body}"


def wait_until_ready(
    name: str,
    probe: Callable[[], str],
    *,
    started: Started,
    timeout: float,
    log_file: Path,
    marker: str | None = None,
    interval: float = 0.25,
) -> str:
    """Call ``probe`` until it returns; fail early if the process exits, or at ``timeout``."""
    deadline = time.monotonic() + timeout
    last = "no answer yet"
    while True:
        try:
            return probe()
        except Exception as exc:  # any probe failure means "not ready yet"
            last = f"{type(exc).__name__}: {exc}".strip()
        if not is_alive(started.pid, marker):
            raise ServiceError(
                f"{name} (pid {started.pid}) exited during start-up; last probe: {last}\n"
                + log_tail(log_file, started.log_offset)
            )
        if time.monotonic() >= deadline:
            raise ServiceError(
                f"{name} (pid {started.pid}) did not answer within {timeout:g} s; "
                f"last probe: {last}\n" + log_tail(log_file, started.log_offset)
            )
        time.sleep(interval)


def port_open(host: str, port: int, timeout: float = 0.5) -> bool:
    """True when something accepts TCP connections at ``host:port``."""
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def require_binary(name: str, hint: str) -> str:
    path = shutil.which(name)
    if path is None:
        raise ServiceError(f"`{name}` is not on PATH: {hint}")
    return path


def run_checked(args: Sequence[str], *, what: str, timeout: float, cwd: Path | None = None) -> None:
    """Run a short preparation command; on failure raise with the tail of its output."""
    try:
        done = subprocess.run(
            list(args), cwd=cwd, capture_output=True, text=True, timeout=timeout, check=False
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise ServiceError(f"{what} failed: {exc}") from exc
    if done.returncode != 0:
        output = "\n".join((done.stdout + done.stderr).splitlines()[-30:])
        raise ServiceError(f"{what} failed (exit {done.returncode}): {shlex.join(args)}\n{output}")


@contextlib.contextmanager
def file_lock(path: Path) -> Iterator[None]:
    """An exclusive advisory lock, so two ``services up`` do not prepare files at once."""
    import fcntl

    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


class LocalService(ABC):
    """One service that ``socialpulse services`` can run under ``var_dir/<name>/``."""

    name: ClassVar[str]
    setting: ClassVar[str]  # the URL setting that points at it, e.g. "redis_url"
    stop_timeout_s: ClassVar[float] = 10.0

    def __init__(self, settings: ServicesSettings) -> None:
        self.settings = settings
        self.dir = settings.var_dir.resolve() / self.name

    @property
    def url(self) -> str:
        return str(getattr(self.settings, self.setting))

    @property
    def external(self) -> bool:
        return self.settings.is_external(self.setting)

    @property
    def pid_file(self) -> Path:
        return self.dir / f"{self.name}.pid"

    @property
    def log_file(self) -> Path:
        return self.dir / f"{self.name}.log"

    @property
    def marker(self) -> str:
        """A string in our process's command line: its own folder."""
        return str(self.dir)

    @abstractmethod
    def ports(self) -> list[tuple[str, int]]:
        """The (host, port) pairs the process listens on."""

    @abstractmethod
    def prepare(self) -> None:
        """Install, download and write what the process needs before it starts."""

    @abstractmethod
    def command(self) -> list[str]:
        """The command line of the server process."""

    def env(self) -> dict[str, str] | None:
        return None

    @abstractmethod
    def probe(self, timeout: float) -> str:
        """Ask the service whether it answers; return a short note, raise if not."""

    def running_pid(self) -> int | None:
        pid = read_pid(self.pid_file)
        if pid is not None and is_alive(pid, self.marker):
            return pid
        return None

    def busy_ports(self) -> list[str]:
        return [f"{host}:{port}" for host, port in self.ports() if port_open(host, port)]

    def start(self) -> Started:
        busy = self.busy_ports()
        if busy:
            raise ServiceError(
                f"{self.name}: {', '.join(busy)} is already in use by a process we did not "
                f"start; stop it, choose other ports, or set SOCIALPULSE_{self.setting.upper()} "
                "to use it as an external service"
            )
        self.dir.mkdir(parents=True, exist_ok=True)
        self.prepare()
        return start_detached(
            self.command(),
            cwd=self.dir,
            log_file=self.log_file,
            pid_file=self.pid_file,
            env=self.env(),
        )

    def launch(self) -> Started:
        """Our process if it runs, else a new one; locked so two ``up`` start only one."""
        with file_lock(self.dir / ".lock"):
            pid = self.running_pid()
            return Started(pid) if pid is not None else self.start()

    def wait_ready(self, started: Started) -> str:
        """Wait until the service answers; if it does not, stop it and raise."""
        try:
            return wait_until_ready(
                self.name,
                lambda: self.probe(timeout=3.0),
                started=started,
                timeout=self.settings.startup_timeout_s,
                log_file=self.log_file,
                marker=self.marker,
            )
        except ServiceError:
            stop(started.pid, timeout=self.stop_timeout_s, marker=self.marker)
            remove_pid(self.pid_file)
            raise

    def stop(self) -> tuple[int | None, bool]:
        """Stop our process if it runs: (its pid or None, whether it exited cleanly)."""
        pid = self.running_pid()
        clean = True
        if pid is not None:
            clean = stop(pid, timeout=self.stop_timeout_s, marker=self.marker)
        remove_pid(self.pid_file)
        return pid, clean
