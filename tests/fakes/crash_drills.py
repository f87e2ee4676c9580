"""Crash-drill tooling for the fault-matrix tests: worker subprocesses that can be SIGKILLed
at a fault point, a Temporal dev server and a Postgres we may stop and start, and snapshots
of what a job left behind (published files, database rows) to compare runs.

Everything runs on loopback (or a Unix socket) and is started and stopped by the test that
owns it; nothing here is a pytest fixture, so each test picks exactly what it needs.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import asyncpg
from pressroom.workflows.search_attributes import ALL as SEARCH_ATTRIBUTES
from pydantic import SecretStr
from temporalio.client import Client

from pressroom.config import Settings
from pressroom.db.pool import connect
from pressroom.durations import format_duration
from pressroom.storage.base import sha256_file
from tests.conftest import REPO_ROOT, TEMPORAL_BIN
from tests.stored import current_revision_id

WAIT_S = 120.0  # generous: the machine is shared with other test runs


# --- worker subprocesses --------------------------------------------------------------------


def _env_text(value: Any) -> str:
    if isinstance(value, SecretStr):
        value = value.get_secret_value()
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list | tuple | set | frozenset):
        return ",".join(str(v) for v in value)
    if isinstance(value, timedelta):  # str() gives "7 days, 0:00:00"; settings read "7d"
        return format_duration(value)
    return str(value)


def settings_env(settings: Settings, **extra: str) -> dict[str, str]:
    """The environment a worker subprocess needs to run with exactly `settings`.

    Every setting becomes its environment variable, and the parent's values for those
    variables are dropped, so nothing leaks in from the shell that runs the tests.
    """
    aliases = {f.alias for f in Settings.model_fields.values() if f.alias}
    env = {k: v for k, v in os.environ.items() if k not in aliases}
    for name, field in Settings.model_fields.items():
        value = getattr(settings, name)
        if field.alias and value is not None and value != []:
            env[field.alias] = _env_text(value)
    env["PRESSROOM_STATE_DIR"] = str(settings.state_dir.resolve())
    env["ARTIFACTS_URL"] = settings.artifacts_location
    env.update(extra)
    return env


def spawn_worker(env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    """`python -m worker` with `env`, output appended to `log`."""
    return subprocess.Popen(
        [sys.executable, "-m", "pressroom.starter.worker"],
        cwd=REPO_ROOT,
        env=env,
        stdout=log.open("ab"),
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
    )


def sigkill(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGKILL)
    proc.wait()


def holding_line(point: str) -> str:
    """The log line `pressroom.faults` writes when a worker holds at `point`."""
    return f"fault injection: holding at {point} "


async def wait_for_log(log: Path, text: str, proc: subprocess.Popen[bytes] | None = None) -> None:
    """Wait until `text` appears in `log` (failing early if `proc` exits)."""
    deadline = time.monotonic() + WAIT_S
    while time.monotonic() < deadline:
        if log.exists() and text in log.read_text(errors="replace"):
            return
        if proc is not None and proc.poll() is not None:
            exited = f"worker exited ({proc.returncode}) before {text!r}"
            raise AssertionError(f"{exited}:\n{_tail(log)}")
        await asyncio.sleep(0.1)
    raise TimeoutError(f"{text!r} never appeared in {log}:\n{_tail(log)}")


def _tail(log: Path, lines: int = 40) -> str:
    if not log.exists():
        return "(no log)"
    return "\n".join(log.read_text(errors="replace").splitlines()[-lines:])


@contextlib.asynccontextmanager
async def held_worker(
    settings: Settings, point: str, log: Path, release: Path | None = None, **extra: str
) -> AsyncIterator[subprocess.Popen[bytes]]:
    """A worker subprocess armed to hold at `point`; SIGKILLed on exit if still alive."""
    env = settings_env(settings, PRESSROOM_FAULT_HOLD=point, **extra)
    if release is not None:
        env["PRESSROOM_FAULT_RELEASE"] = str(release)
    proc = spawn_worker(env, log)
    try:
        yield proc
    finally:
        sigkill(proc)


def start_attempts(history: Any, activity_type: str) -> list[int]:
    """The attempt number of each `activity_type` activity's last start in a history
    (Temporal records a retried activity's start once, for the attempt that closed it)."""
    scheduled: dict[int, str] = {}
    attempts: list[int] = []
    for event in history.events:
        if event.HasField("activity_task_scheduled_event_attributes"):
            attrs = event.activity_task_scheduled_event_attributes
            scheduled[event.event_id] = attrs.activity_type.name
        elif event.HasField("activity_task_started_event_attributes"):
            attrs = event.activity_task_started_event_attributes
            if scheduled.get(attrs.scheduled_event_id) == activity_type:
                attempts.append(attrs.attempt)
    return attempts


async def wait_for_attempt(client: Client, job_id: str, activity_type: str, attempt: int) -> str:
    """Wait until the job's pending `activity_type` is at `attempt` or later (so the attempts
    before it failed); returns the last failure's message."""
    deadline = time.monotonic() + WAIT_S
    while time.monotonic() < deadline:
        desc = await client.get_workflow_handle(job_id).describe()
        for pending in desc.raw_description.pending_activities:
            if pending.activity_type.name == activity_type and pending.attempt >= attempt:
                return str(pending.last_failure.message)
        await asyncio.sleep(0.1)
    raise TimeoutError(f"{activity_type} of {job_id} never reached attempt {attempt}")


async def executions(client: Client, workflow_id: str) -> int:
    """How many workflow executions (runs) exist with this id."""
    count = 0
    async for _ in client.list_workflows(f"WorkflowId = '{workflow_id}'"):
        count += 1
    return count


# --- what a job left behind ---------------------------------------------------------------


def site_free_digest(path: Path) -> str:
    """sha256 of a published JSON document without its top-level `site`, so the same
    revision published for two sites compares equal."""
    doc = json.loads(path.read_bytes())
    doc.pop("site", None)
    return hashlib.sha256(json.dumps(doc, sort_keys=True).encode()).hexdigest()


def published(
    artifacts: Path, dist: str, *, site_free: bool = False
) -> tuple[dict[str, Any], dict[str, str]]:
    """`latest.json` of a dist folder and the sha256 of each file of the revision it names
    (with `site_free`, of each file's content without its `site`)."""
    latest = json.loads((artifacts / dist / "latest.json").read_text())
    folder = artifacts / dist / latest["revision"]
    digest = site_free_digest if site_free else sha256_file
    return latest, {p.name: digest(p) for p in sorted(folder.iterdir())}


async def revision_rows(url: str, site: str, revision: str) -> dict[str, list[str]]:
    """Every stored row of one revision (as JSON text, site and timing columns left out),
    per table, in key order: two loads are identical exactly when these are equal."""
    conn = await connect(url, run_migrations=False)
    try:
        out: dict[str, list[str]] = {}
        for table, key in (("posts", "post_id"), ("sections", "section_id"), ("media", "path")):
            rows = await conn.fetch(
                f"SELECT (to_jsonb(t) - 'site_id')::text AS row FROM {table} t "  # noqa: S608 - fixed names
                f"WHERE site_id = $1 AND revision_id = $2 ORDER BY {key}",
                site,
                revision,
            )
            out[table] = [r["row"] for r in rows]
        out["revisions"] = [
            json.dumps([r["state"], r["counts"]])
            for r in await conn.fetch(
                "SELECT state, counts::text AS counts FROM revisions "
                "WHERE site_id = $1 AND revision_id = $2",
                site,
                revision,
            )
        ]
        out["current"] = [str(await current_revision_id(conn, site))]
        return out
    finally:
        await conn.close()


# --- a Temporal dev server we can kill and restart ----------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def port_open(port: int) -> bool:
    with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.5):
        return True
    return False


class DevServer:
    """`temporal server start-dev` on a fixed port and SQLite file, restartable in place."""

    def __init__(self, db_file: Path, log: Path) -> None:
        self.db_file, self.log = db_file, log
        self.port = free_port()
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def command(self) -> list[str]:
        cmd = [
            str(TEMPORAL_BIN), "server", "start-dev", "--headless",
            "--db-filename", str(self.db_file), "--ip", "127.0.0.1", "--port", str(self.port),
            "--log-level", "warn",
        ]  # fmt: skip
        for key in SEARCH_ATTRIBUTES:
            cmd += ["--search-attribute", f"{key.name}=Keyword"]
        return cmd

    async def start(self) -> None:
        self.proc = subprocess.Popen(
            self.command(),
            stdout=self.log.open("ab"),
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + WAIT_S
        while not port_open(self.port):
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"temporal dev server did not start:\n{_tail(self.log)}")
            await asyncio.sleep(0.1)

    def kill(self) -> None:
        """SIGKILL: no graceful shutdown, whatever was in flight is cut off."""
        if self.proc is not None:
            sigkill(self.proc)
        deadline = time.monotonic() + WAIT_S
        while port_open(self.port) and time.monotonic() < deadline:
            time.sleep(0.05)


# --- a Postgres we can stop and start --------------------------------------------------------


class StoppablePostgres:
    """A pgserver instance of our own (PostgreSQL 16 + pgvector), stopped and started with
    pg_ctl so the Unix socket, and therefore the URL, stays the same across restarts."""

    def __init__(self, pgdata: Path) -> None:
        from pgserver import get_server

        self.pgdata = pgdata
        self.server = get_server(pgdata, cleanup_mode="stop")
        self.url = str(self.server.get_uri())
        info = self.server.get_postmaster_info()
        self.socket_dir = str(info.socket_dir)

    def _pg_ctl(self, *args: str) -> None:
        from pgserver._commands import pg_ctl

        pg_ctl(list(args), pgdata=self.pgdata, user=self.server.system_user, timeout=60)

    def stop(self) -> None:
        # Fast mode: open sessions are terminated and their transactions rolled back.
        self._pg_ctl("-w", "-m", "fast", "stop")

    def start(self) -> None:
        self._pg_ctl(
            "-w", "-o", '-h ""', "-o", f"-k {self.socket_dir}",
            "-l", str(self.pgdata / "log"), "start",
        )  # fmt: skip

    async def ready(self) -> None:
        deadline = time.monotonic() + WAIT_S
        while True:
            try:
                conn = await asyncpg.connect(self.url)
            except (OSError, asyncpg.PostgresError):
                if time.monotonic() > deadline:
                    raise
                await asyncio.sleep(0.2)
            else:
                await conn.close()
                return

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.server.cleanup()


@contextlib.contextmanager
def stoppable_postgres(pgdata: Path) -> Iterator[StoppablePostgres]:
    pg = StoppablePostgres(pgdata)
    try:
        yield pg
    finally:
        pg.close()


# --- settings and corpora ------------------------------------------------------------------


def drill_settings(settings: Settings, **update: Any) -> Settings:
    """The test's settings for a crash drill: short heartbeat and sticky-queue timeouts (a
    killed worker's step and its job's next workflow task move to another worker within
    seconds) and loopback callbacks allowed."""
    base: dict[str, Any] = {
        "activity_heartbeat_seconds": 3,
        "worker_sticky_timeout_seconds": 1,
        "network_allowlist": ["127.0.0.1"],
    }
    return settings.model_copy(update={**base, **update})


def nonce_corpus(dest: Path, posts: int, sections: int, nonce: str) -> Path:
    """`posts` Markdown posts of `sections` sections each; every section's text carries
    `nonce`, so its embedding inputs are new to any cache."""
    folder = dest / "_posts"
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(posts):
        body = [f"---\ntitle: Drill post {i}\n---\n", f"Intro {nonce} {i}.\n"]
        body += [f"## Part {k}\n\nSection {k} of post {i}, {nonce}.\n" for k in range(sections)]
        (folder / f"2024-01-{i % 28 + 1:02d}-drill-{i:03d}.md").write_text("\n".join(body))
    return dest
