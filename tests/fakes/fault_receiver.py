"""A callback receiver for the fault-matrix tests: records every delivery attempt (headers,
exact body bytes) and answers from a script of statuses; it can go down (port closed) and
come back on the same port to play a receiver outage."""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections import deque
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

from aiohttp import web

WAIT_S = 120.0


@dataclass(frozen=True)
class Delivery:
    headers: dict[str, str]
    body: bytes
    status: int  # what the receiver answered
    at: float  # time.monotonic() on arrival

    @property
    def webhook_id(self) -> str:
        return self.headers.get("webhook-id", "")

    def json(self) -> Any:
        return json.loads(self.body)


class CallbackReceiver:
    def __init__(self, *statuses: int, default: int = 200) -> None:
        self.deliveries: list[Delivery] = []
        self.script: deque[int] = deque(statuses)  # answers for the first attempts
        self.default = default
        self.port = 0
        self._runner: web.AppRunner | None = None
        self._arrived = asyncio.Condition()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hook"

    @property
    def accepted(self) -> list[Delivery]:
        return [d for d in self.deliveries if 200 <= d.status < 300]

    async def _hook(self, request: web.Request) -> web.Response:
        body = await request.read()
        status = self.script.popleft() if self.script else self.default
        headers = {k.lower(): v for k, v in request.headers.items()}
        self.deliveries.append(Delivery(headers, body, status, time.monotonic()))
        async with self._arrived:
            self._arrived.notify_all()
        return web.json_response({"status": status}, status=status)

    async def start(self, port: int = 0) -> None:
        """Listen on 127.0.0.1 (`port` 0: any free port, kept for later restarts)."""
        app = web.Application()
        app.router.add_post("/hook", self._hook)
        self._runner = web.AppRunner(app, handle_signals=False, shutdown_timeout=0.5)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", port or self.port, reuse_address=True).start()
        self.port = self._runner.addresses[0][1]

    async def stop(self) -> None:
        """Close the port: deliveries are refused until `start` again."""
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def wait_for(self, count: int) -> list[Delivery]:
        """Wait (up to WAIT_S) until at least `count` attempts arrived."""
        async with asyncio.timeout(WAIT_S), self._arrived:
            await self._arrived.wait_for(lambda: len(self.deliveries) >= count)
        return list(self.deliveries)


@contextlib.asynccontextmanager
async def callback_receiver(*statuses: int, default: int = 200) -> AsyncIterator[CallbackReceiver]:
    receiver = CallbackReceiver(*statuses, default=default)
    await receiver.start()
    try:
        yield receiver
    finally:
        await receiver.stop()
