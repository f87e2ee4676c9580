"""`make demo`: a real job on the example blog, end to end through the API.

Starts the embedded stack, runs the worker and the API as the real processes they are in
production, posts a job, receives and verifies the signed callback, then prints what was
produced and where to look.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import web
from pressroom.starter import devstack
from pressroom.starter.search import run_search
from rich.console import Console
from rich.live import Live
from rich.table import Table
from standardwebhooks import WebhookVerificationError

from pressroom.callbacks import webhooks
from pressroom.config import Settings

console = Console()
REPO_ROOT = Path(__file__).resolve().parent.parent
EXAMPLE_BLOG = REPO_ROOT / "examples" / "blog"
DEMO_SECRET = "whsec_" + "cHJlc3Nyb29tLWRlbW8tc2VjcmV0LWtleQ=="
DEMO_QUERY = "keeping the station powered through a dark winter"
DEMO_SITE = "example-blog"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextlib.asynccontextmanager
async def callback_receiver(
    secret: str,
) -> AsyncIterator[tuple[str, asyncio.Future[dict[str, Any]]]]:
    """A local HTTP endpoint that verifies the webhook signature and hands over the body."""
    received: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()

    async def handle(request: web.Request) -> web.Response:
        body = await request.read()
        try:
            # ValueError: a malformed signature header, which the package does not wrap.
            payload = webhooks.webhook(secret).verify(body, dict(request.headers))
        except (WebhookVerificationError, ValueError) as exc:
            if not received.done():
                received.set_exception(exc)
            return web.Response(status=400)
        if not received.done():
            received.set_result(payload)
        return web.Response(status=204)

    app = web.Application()
    app.router.add_post("/callback", handle)
    runner = web.AppRunner(app)
    await runner.setup()
    port = _free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    try:
        yield f"http://127.0.0.1:{port}/callback", received
    finally:
        await runner.cleanup()


def _spawn(args: list[str], env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen(  # noqa: S603 - our own entry points
        [sys.executable, *args],
        env=env,
        cwd=REPO_ROOT,
        stdout=log.open("ab"),
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
    )


def _stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=40)
        except subprocess.TimeoutExpired:
            proc.kill()


async def _wait_healthy(
    http: aiohttp.ClientSession, url: str, proc: subprocess.Popen[bytes]
) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError("the API process exited early; see .pressroom/api.log")
        with contextlib.suppress(aiohttp.ClientError):
            async with http.get(url) as resp:
                if resp.status == 200:
                    return
        await asyncio.sleep(0.3)
    raise TimeoutError(f"API not healthy at {url}")


def _steps_table(view: dict[str, Any]) -> Table:
    table = Table(title=f"job {view.get('jobId')}: {view.get('state')}")
    for col in ("step", "state", "progress"):
        table.add_column(col)
    for step in view.get("steps") or []:
        total = step["total"]
        table.add_row(step["name"], step["state"], f"{step['done']}/{total}" if total else "")
    return table


async def _follow(http: aiohttp.ClientSession, status_url: str) -> dict[str, Any]:
    view: dict[str, Any] = {}
    with Live(console=console, refresh_per_second=4) as live:
        while view.get("state") not in ("completed", "failed", "cancelled"):
            async with http.get(status_url) as resp:
                view = await resp.json()
            live.update(_steps_table(view))
            await asyncio.sleep(0.4)
    return view


def _print_summary(callback: dict[str, Any], settings: Settings, job_id: str) -> None:
    result = callback["result"]
    counts = result.get("counts", {})
    table = Table(title="what the job produced")
    table.add_column("item")
    table.add_column("value", overflow="fold")
    table.add_row("status", callback["status"])
    table.add_row("revision", str(result.get("revision")))
    table.add_row("duration", f"{callback['duration']} ms")
    for key, value in counts.items():
        table.add_row(key, str(value))
    table.add_row("post errors", str(result.get("errorCount", 0)))
    artifacts = result.get("artifacts", {})
    table.add_row("artifacts", str(artifacts.get("base")))
    table.add_row("latest pointer", str(artifacts.get("latest")))
    for name, meta in (artifacts.get("files") or {}).items():
        table.add_row(f"  {name}", f"{meta['bytes']} bytes  sha256 {meta['sha256'][:16]}…")
    ui = f"{settings.temporal_ui_url}/namespaces/{settings.temporal_namespace}/workflows/{job_id}"
    table.add_row("Temporal UI", ui)
    console.print(table)


async def run_demo(settings: Settings, *, keep_running: bool = True) -> int:
    if not EXAMPLE_BLOG.is_dir():
        console.print(f"[red]example blog missing at {EXAMPLE_BLOG}[/]")
        return 1
    state = settings.state_dir.resolve()
    state.mkdir(parents=True, exist_ok=True)
    console.rule("starting the embedded stack")
    stack = devstack.up(settings)
    console.print(f"Temporal {stack.temporal_address}, UI {stack.ui_url}")
    console.print(f"Postgres {stack.postgres_url}")

    secret = os.environ.get("WEBHOOK_SECRET") or DEMO_SECRET
    api_port = _free_port()
    env = {
        **os.environ,
        "WEBHOOK_SECRET": secret,
        "API_PORT": str(api_port),
        "PRESSROOM_STATE_DIR": str(state),
        # The demo's callback receiver listens on loopback, which the network guard refuses
        # unless allowlisted (pressroom/netguard.py).
        "NETWORK_ALLOWLIST": ",".join(
            filter(None, [os.environ.get("NETWORK_ALLOWLIST", ""), "127.0.0.1"])
        ),
    }
    worker = _spawn(["-m", "pressroom.starter.worker"], env, state / "worker.log")
    api = _spawn(["-m", "pressroom.api"], env, state / "api.log")
    base = f"http://127.0.0.1:{api_port}"
    job_id = f"demo-{int(time.time())}"
    try:
        async with (
            aiohttp.ClientSession() as http,
            callback_receiver(secret) as (callback_url, received),
        ):
            await _wait_healthy(http, f"{base}/healthz", api)
            console.rule(f"POST {base}/process")
            request = {
                "jobId": job_id,
                "task": "process-all",
                "data": {
                    "repoUrl": str(EXAMPLE_BLOG),
                    "distFolder": "dist",
                    "site": DEMO_SITE,
                },
                "callbackUrl": callback_url,
            }
            async with http.post(f"{base}/process", json=request) as resp:
                accepted = await resp.json()
                console.print(f"{resp.status} {accepted}")
                if resp.status != 202:
                    return 1
            view = await _follow(http, f"{base}/jobs/{job_id}")
            callback = await asyncio.wait_for(received, timeout=60)
        console.rule("callback received (Standard Webhooks signature verified)")
        _print_summary(callback, settings, job_id)
        if view.get("state") != "completed":
            console.print(f"[red]job ended {view.get('state')}: {view.get('failure')}[/]")
            return 1
        console.rule(f"sample hybrid search (full text + vector): {DEMO_QUERY!r}")
        await run_search(
            settings,
            DEMO_QUERY,
            site=DEMO_SITE,
            mode="hybrid",
            kind="all",
            limit=5,
            console=console,
        )
        console.rule("where to look")
        console.print(f"Temporal UI:  {settings.temporal_ui_url} (job {job_id})")
        console.print(f"Artifacts:    {settings.artifacts_location}/dist/")
        console.print("Replay:       .venv/bin/pressroom replay " + job_id)
        console.print(
            "Search page:  .venv/bin/pressroom api, then http://127.0.0.1:8080/ "
            f"(or .venv/bin/pressroom search 'your words' --site {DEMO_SITE})"
        )
        console.print(
            "Re-run a step: .venv/bin/temporal workflow reset --workflow-id "
            f"{job_id} --type FirstWorkflowTask --reason demo"
        )
        return 0
    finally:
        _stop(api)
        _stop(worker)
        if not keep_running:
            devstack.stop_temporal(settings)
            devstack.stop_postgres(settings)
        else:
            console.print(
                "The dev stack is still running: `.venv/bin/pressroom dev down` stops it."
            )
