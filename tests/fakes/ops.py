"""Helpers for the operations tests (auth, webhook delivery, cancellation, secrets, metrics):
a scripted webhook receiver that can answer with any status and headers, go down and come
back on the same port; waiting for a job's activity; worker/API subprocess environments."""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import sys
import time
from collections import deque
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aiohttp import web
from temporalio.client import Client

from pressroom.config import Settings
from tests.conftest import REPO_ROOT

WAIT_S = 120.0


@dataclass
class Hit:
    headers: dict[str, str]
    body: bytes
    status: int
    at: float  # time.monotonic() on arrival
    query: str = ""  # the request's query string, as received


@dataclass
class Answer:
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)


class Receiver:
    """A callback receiver on 127.0.0.1 answering from a script, then with `default`."""

    def __init__(self, *script: Answer | int, default: int = 200) -> None:
        self.script: deque[Answer] = deque(
            a if isinstance(a, Answer) else Answer(a) for a in script
        )
        self.default = default
        self.hits: list[Hit] = []
        self.port = 0
        self._runner: web.AppRunner | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hook"

    async def _hook(self, request: web.Request) -> web.Response:
        body = await request.read()
        answer = self.script.popleft() if self.script else Answer(self.default)
        headers = {k.lower(): v for k, v in request.headers.items()}
        hit = Hit(headers, body, answer.status, time.monotonic(), request.query_string)
        self.hits.append(hit)
        return web.json_response(
            {"ok": answer.status < 300}, status=answer.status, headers=answer.headers
        )

    async def start(self, port: int = 0) -> None:
        app = web.Application()
        app.router.add_post("/hook", self._hook)
        # No access log: the receiver's own log line would show its URL (with any token),
        # and the secrets test searches the captured logs of Pressroom, not of the receiver.
        self._runner = web.AppRunner(
            app, handle_signals=False, shutdown_timeout=0.5, access_log=None
        )
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", port or self.port, reuse_address=True).start()
        self.port = self._runner.addresses[0][1]

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def wait_for(self, count: int) -> list[Hit]:
        deadline = time.monotonic() + WAIT_S
        while len(self.hits) < count:
            if time.monotonic() > deadline:
                raise TimeoutError(f"{len(self.hits)} of {count} callback attempts arrived")
            await asyncio.sleep(0.05)
        return list(self.hits)


def loopback_settings(settings: Settings, **update: Any) -> Settings:
    """`settings` allowed to call back to loopback receivers (the network guard's allowlist)."""
    return settings.model_copy(update={"network_allowlist": ["127.0.0.1"], **update})


async def wait_for_activity(
    client: Client, job_id: str, activity_type: str, *, min_attempt: int = 1
) -> Any:
    """Wait until the job's `activity_type` activity is running (or failed) at `min_attempt`
    or later; returns its pending-activity description."""
    deadline = time.monotonic() + WAIT_S
    while time.monotonic() < deadline:
        desc = await client.get_workflow_handle(job_id).describe()
        for pending in desc.raw_description.pending_activities:
            if pending.activity_type.name != activity_type or pending.attempt < min_attempt:
                continue
            # A retry waiting out its backoff shows no start time, but its attempt counts.
            if min_attempt > 1 or pending.last_started_time.seconds:
                return pending
        await asyncio.sleep(0.2)
    raise TimeoutError(f"job {job_id} never ran {activity_type} attempt {min_attempt}")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def process_env(settings: Settings, **extra: str) -> dict[str, str]:
    """Environment for a worker/API/CLI subprocess sharing this test's stack."""
    env = {
        **os.environ,
        "PRESSROOM_STATE_DIR": str(settings.state_dir),
        "TEMPORAL_ADDRESS": settings.temporal_address,
        "TEMPORAL_TASK_QUEUE": settings.temporal_task_queue,
        "DATABASE_URL": settings.database_url.get_secret_value(),  # type: ignore[union-attr]
        "ARTIFACTS_URL": settings.artifacts_location,
        "ACTIVITY_HEARTBEAT_SECONDS": str(settings.activity_heartbeat_seconds),
        # As the test's settings say (off by default: tests/conftest.py).
        "JANITOR_INTERVAL": str(int(settings.janitor_interval.total_seconds())),
        "WORK_RETENTION": str(int(settings.work_retention.total_seconds())),
        "NETWORK_ALLOWLIST": "127.0.0.1",
    }
    if settings.webhook_secret:
        env["WEBHOOK_SECRET"] = settings.webhook_secret.get_secret_value()
    env.update(extra)
    return env


def spawn(module: str, env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    """`python -m module` (worker, api) from the repository root, output to `log`."""
    return subprocess.Popen(
        [sys.executable, "-m", module],
        cwd=REPO_ROOT,
        env=env,
        stdout=log.open("ab"),
        stderr=subprocess.STDOUT,
    )


@contextmanager
def spawned(module: str, env: dict[str, str], log: Path) -> Iterator[subprocess.Popen[bytes]]:
    """`spawn`, and the process killed on the way out if the test left it running."""
    proc = spawn(module, env, log)
    try:
        yield proc
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


async def activity_attempts(client: Client, job_id: str) -> list[int]:
    """The attempt number of every activity task the job's history shows started."""
    history = await client.get_workflow_handle(job_id).fetch_history()
    return [
        e.activity_task_started_event_attributes.attempt
        for e in history.events
        if e.HasField("activity_task_started_event_attributes")
    ]


def run_cli(
    env: dict[str, str], *args: str, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "pressroom.starter.cli", *args],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
