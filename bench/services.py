"""The processes one bench scenario talks to: Pressroom's worker and API, and the loopback
receiver its jobs call back (the job is done, for its client, when the callback arrives)."""

from __future__ import annotations

import asyncio
import sys
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import aiohttp
from aiohttp import web

from bench.latency_server import LatencyServer
from bench.scenarios import Scenario
from bench.stack import Proc, Stack, free_port, service_env, spawn, stop, tail, wait_healthy


class Callbacks:
    """A loopback receiver: the job is done for the client when its callback arrives."""

    def __init__(self) -> None:
        self.waiting: dict[str, asyncio.Future[tuple[float, dict[str, Any]]]] = {}
        self.url = ""

    def expect(self, job_id: str) -> asyncio.Future[tuple[float, dict[str, Any]]]:
        fut = asyncio.get_running_loop().create_future()
        self.waiting[job_id] = fut
        return fut

    async def _handle(self, request: web.Request) -> web.Response:
        arrived = time.perf_counter()
        body = await request.json()
        fut = self.waiting.pop(request.match_info["job_id"], None)
        if fut is not None and not fut.done():
            fut.set_result((arrived, body))
        return web.Response(status=204)

    @asynccontextmanager
    async def running(self) -> AsyncIterator[Callbacks]:
        app = web.Application(client_max_size=16 * 1024 * 1024)
        app.router.add_post("/cb/{job_id}", self._handle)
        runner = web.AppRunner(app, handle_signals=False)
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", 0).start()
        self.url = f"http://127.0.0.1:{runner.addresses[0][1]}/cb"
        try:
            yield self
        finally:
            await runner.cleanup()


def embedder_env(scenario: Scenario, server: LatencyServer | None) -> dict[str, str]:
    if scenario.embedder == "local" or server is None:
        return {"EMBEDDING_PROVIDER": "hashing"}
    return {
        "EMBEDDING_PROVIDER": "openai",
        "EMBEDDING_MODEL": "text-embedding-3-small",
        "EMBEDDING_DIMENSIONS": "384",
        "OPENAI_BASE_URL": server.base_url,
        "OPENAI_API_KEY": "bench-key",
        "IMAGE_DESCRIPTIONS": "true" if scenario.descriptions else "false",
    }


class Services:
    """The worker and API processes of one scenario."""

    def __init__(
        self, stack: Stack, scenario: Scenario, env: dict[str, str], *, worker: bool = True
    ) -> None:
        self.stack, self.scenario, self.with_worker = stack, scenario, worker
        self.queue = f"bench-{scenario.name}-{uuid.uuid4().hex[:6]}"
        self.api_port = free_port()
        self.env = service_env(stack, self.queue, {**env, "API_PORT": str(self.api_port)})
        self.base = f"http://127.0.0.1:{self.api_port}"
        self.worker: Proc | None = None
        self.api: Proc | None = None

    async def __aenter__(self) -> Services:
        logs = self.stack.root / "logs"
        logs.mkdir(exist_ok=True)
        if self.with_worker:
            self.worker = spawn(
                "worker",
                ["-m", "pressroom.starter.worker"],
                self.env,
                logs / f"{self.scenario.name}-worker.log",
            )
        self.api = spawn(
            "api", ["-m", "pressroom.api"], self.env, logs / f"{self.scenario.name}-api.log"
        )
        await wait_healthy(f"{self.base}/healthz", self.api)
        return self

    async def __aexit__(self, exc_type: object, *exc: object) -> None:
        for proc in (self.api, self.worker):
            if proc is not None:
                await stop(proc)
                if exc_type is not None:  # the logs are deleted with the stack: show them now
                    print(f"--- {proc.name} log ({proc.log}) ends:", file=sys.stderr)
                    for line in tail(proc.log, 40):
                        print(line, file=sys.stderr)


async def post_job(http: aiohttp.ClientSession, base: str, body: dict[str, Any]) -> dict[str, Any]:
    async with http.post(f"{base}/process", json=body) as resp:
        answer = await resp.json()
        if resp.status != 202:
            raise RuntimeError(f"POST /process answered {resp.status}: {answer}")
        return dict(answer)
