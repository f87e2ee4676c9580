"""Row 17 of issue 10: `pressroom dev down` stops every process `dev up` started, truthfully.

The real CLI (`.venv/bin/pressroom dev up` / `dev down`) on a temporary state dir with its
own ports: a real Temporal dev server and a real pgserver Postgres (as root, run as the
`pgserver` user). `dev up` leaves through `os._exit`, so pgserver's attach list keeps a
stale entry, which is what made the old `dev down` report `True` and stop nothing.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest
from pressroom.starter import devstack

from pressroom.config import Settings
from pressroom.runtime.embedded import postgres_running, postmaster_pid, stop_embedded_postgres

PRESSROOM = Path(sys.executable).parent / "pressroom"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def stack_env() -> Iterator[dict[str, str]]:
    # Not under pytest's 0700 tmp root: as root, Postgres runs as `pgserver` and must reach it.
    root = Path(tempfile.mkdtemp(prefix="pressroom-devdown-"))
    root.chmod(0o755)
    env = {
        **os.environ,
        "PRESSROOM_STATE_DIR": str(root / "state"),
        "TEMPORAL_ADDRESS": f"127.0.0.1:{_free_port()}",
        "TEMPORAL_UI_URL": f"http://127.0.0.1:{_free_port()}",
    }
    env.pop("DATABASE_URL", None)
    try:
        yield env
    finally:
        # Whatever the test's outcome, leave nothing running (through the fixed code path).
        settings = _settings(env)
        devstack.stop_temporal(settings)
        stop_embedded_postgres(settings.pgdata_dir)
        shutil.rmtree(root, ignore_errors=True)


def _settings(env: dict[str, str]) -> Settings:
    return Settings(
        state_dir=Path(env["PRESSROOM_STATE_DIR"]),
        temporal_address=env["TEMPORAL_ADDRESS"],
        temporal_ui_url=env["TEMPORAL_UI_URL"],
        database_url=None,
    )


def _cli(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(PRESSROOM), *args], env=env, capture_output=True, text=True, timeout=120
    )


def _pg_ctl_status(pgdata: Path) -> str:
    from pgserver._commands import POSTGRES_BIN_PATH

    user = "pgserver" if os.geteuid() == 0 else None
    done = subprocess.run(
        [str(POSTGRES_BIN_PATH / "pg_ctl"), "-D", str(pgdata), "status"],
        user=user,
        capture_output=True,
        text=True,
        check=False,
    )
    return done.stdout + done.stderr


def _alive(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def test_row17_dev_down_stops_temporal_and_postgres(stack_env: dict[str, str]) -> None:
    settings = _settings(stack_env)
    up = _cli(stack_env, "dev", "up")
    assert up.returncode == 0, up.stdout + up.stderr
    temporal = devstack.temporal_pids(settings)
    postgres = postmaster_pid(settings.pgdata_dir)
    assert temporal, "dev up started no Temporal dev server"
    assert postgres is not None, "dev up started no Postgres"
    assert "server is running" in _pg_ctl_status(settings.pgdata_dir)

    down = _cli(stack_env, "dev", "down")

    assert down.returncode == 0, down.stdout + down.stderr
    assert f"temporal: stopped (pid {temporal[0]})" in down.stdout
    assert f"postgres: stopped (pid {postgres})" in down.stdout
    assert not any(_alive(pid) for pid in temporal)
    assert not _alive(postgres)
    assert "no server running" in _pg_ctl_status(settings.pgdata_dir)
    assert not postgres_running(settings.pgdata_dir)

    again = _cli(stack_env, "dev", "down")
    assert again.returncode == 0, again.stdout + again.stderr
    assert "temporal: was not running" in again.stdout
    assert "postgres: was not running" in again.stdout


def test_row17_dev_down_finds_temporal_without_its_pid_file(stack_env: dict[str, str]) -> None:
    """A lost or stale `temporal.pid` must not leave the dev server running."""
    settings = _settings(stack_env)
    assert _cli(stack_env, "dev", "up").returncode == 0
    temporal = devstack.temporal_pids(settings)
    assert temporal
    (settings.state_dir / "temporal.pid").write_text("999999999")

    down = _cli(stack_env, "dev", "down")

    assert down.returncode == 0, down.stdout + down.stderr
    assert "temporal: stopped" in down.stdout
    assert not any(_alive(pid) for pid in temporal)
    status = _cli(stack_env, "dev", "status")
    assert "down" in status.stdout and "Postgres: down or external" in status.stdout
