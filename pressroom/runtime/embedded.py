"""The embedded Postgres (pgserver: PostgreSQL 16 + pgvector) used when DATABASE_URL is unset.

pgserver starts the server on first use and lets later processes attach to the same data
directory, so the dev stack, the worker and the tests share one server per data dir.

Owns starting/attaching (`embedded_postgres_url`), telling whether the server of a data dir
runs (`postgres_running`), and stopping it for certain (`stop_embedded_postgres`). Stopping
does not go through pgserver's handle: pgserver stops the server only when the last process
that attached lets go, and it keeps that list of processes in `pgdata/.handle_pids.json`,
which a process leaving through `os._exit` (our CLI does, see starter/cli.py) or a kill
never cleans up. With one stale entry there, pgserver's cleanup silently does nothing.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

__all__ = ["embedded_postgres_url", "postgres_running", "stop_embedded_postgres"]

# pgserver runs Postgres as this system user when we are root (Postgres refuses root).
PGSERVER_SYSTEM_USER = "pgserver"
# pg_ctl status exit codes (PostgreSQL docs, pg_ctl): 0 running, 3 not running, 4 no data dir.
_PG_CTL_RUNNING = 0


def embedded_postgres_url(pgdata: Path, *, stop_on_exit: bool = False) -> str:
    """Start (or attach to) the embedded Postgres in `pgdata` and return its connection URL."""
    import pgserver  # imported lazily: it is only needed when no DATABASE_URL is configured

    pgdata.mkdir(parents=True, exist_ok=True)
    server = pgserver.get_server(pgdata, cleanup_mode="stop" if stop_on_exit else None)
    return str(server.get_uri())


@dataclass(frozen=True)
class PostgresStop:
    """What `stop_embedded_postgres` did, checked afterwards rather than assumed."""

    was_running: bool
    stopped: bool  # True when nothing of this data dir's server runs any more
    pid: int | None
    detail: str


def _system_user() -> str | None:
    return PGSERVER_SYSTEM_USER if os.geteuid() == 0 else None


def _pg_ctl(pgdata: Path, *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    """Run pgserver's own pg_ctl on `pgdata`, as the user pgserver runs Postgres as."""
    from pgserver._commands import POSTGRES_BIN_PATH

    return subprocess.run(  # noqa: S603 - fixed argv, pgserver's own binary
        [str(POSTGRES_BIN_PATH / "pg_ctl"), "-D", str(pgdata), *args],
        user=_system_user(),  # pg_ctl refuses to run as root
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def postmaster_pid(pgdata: Path) -> int | None:
    """The pid of the live postmaster serving `pgdata`, or None.

    `postmaster.pid` outlives a crashed or killed server, and its pid may since belong to
    another process: the pid counts only if that process is a `postgres` for this data dir.
    """
    try:
        first = (pgdata / "postmaster.pid").read_text().splitlines()[0]
        pid = int(first.strip())
    except (OSError, IndexError, ValueError):
        return None
    import psutil  # a pgserver dependency, so present wherever pgserver is

    try:
        proc = psutil.Process(pid)
        alive = proc.status() != psutil.STATUS_ZOMBIE
        ours = str(pgdata.resolve()) in " ".join(proc.cmdline())
    except (psutil.NoSuchProcess, psutil.AccessDenied):
        return None
    return pid if alive and ours else None


def postgres_running(pgdata: Path) -> bool:
    """True when pg_ctl reports a server running on `pgdata` or its postmaster is alive."""
    if not (pgdata / "PG_VERSION").exists():
        return False
    # Both checks: pg_ctl is Postgres' own word, the pid check catches a server pg_ctl
    # cannot see (a postmaster.pid it cannot read).
    return _pg_ctl(pgdata, "status").returncode == _PG_CTL_RUNNING or (
        postmaster_pid(pgdata) is not None
    )


def _wait_gone(pgdata: Path, pid: int, timeout_s: float) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if postmaster_pid(pgdata) != pid:
            return True
        time.sleep(0.1)
    return postmaster_pid(pgdata) != pid


def stop_embedded_postgres(pgdata: Path, *, timeout_s: float = 30) -> PostgresStop:
    """Stop the server of `pgdata` whoever started it, then check that it really stopped.

    `pg_ctl stop -m fast` first (clean: a checkpoint, clients disconnected); if the
    postmaster is still alive after that, SIGQUIT (Postgres' immediate shutdown, crash-safe:
    the next start replays the WAL), then SIGKILL.
    """
    pgdata = pgdata.resolve()
    pid = postmaster_pid(pgdata)
    if not postgres_running(pgdata):
        return PostgresStop(False, True, None, "was not running")
    steps: list[str] = []
    done = _pg_ctl(pgdata, "stop", "-m", "fast", "-w", "-t", str(int(timeout_s)))
    steps.append(f"pg_ctl stop: exit {done.returncode}")
    if pid is not None and not _wait_gone(pgdata, pid, timeout_s):
        for sig in (signal.SIGQUIT, signal.SIGKILL):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, sig)
            steps.append(f"sent {sig.name} to {pid}")
            if _wait_gone(pgdata, pid, 10):
                break
    still = postgres_running(pgdata)
    if not still:
        # No process holds the server any more: pgserver's attach list is stale by
        # definition, and a stale entry would keep a later `stop_on_exit` handle from
        # stopping the next server (module docstring).
        with contextlib.suppress(FileNotFoundError):
            (pgdata / ".handle_pids.json").unlink()
    detail = "; ".join(steps) if still else "stopped"
    return PostgresStop(True, not still, pid, detail)
