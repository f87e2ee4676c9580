"""A client that goes away cancels its handler (the API's runner, `app_runner`): the search
page aborts a search a later keystroke superseded, and the server must not finish it anyway.
The request is counted as status 499 in `/metrics`, not as a 500."""

from __future__ import annotations

import asyncio

import aiohttp
from aiohttp import web
from pressroom.api import metrics
from pressroom.api.app import app_runner


async def test_a_vanished_client_cancels_its_handler_and_counts_as_499() -> None:
    started, cancelled = asyncio.Event(), asyncio.Event()

    async def slow(request: web.Request) -> web.Response:
        started.set()
        try:
            await asyncio.sleep(30)
        except asyncio.CancelledError:
            cancelled.set()
            raise
        return web.Response(text="too late")

    app = web.Application()
    metrics.install(app)
    app.router.add_get("/slow", slow)
    runner = app_runner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    base = f"http://127.0.0.1:{runner.addresses[0][1]}"
    try:
        async with aiohttp.ClientSession() as http:
            request = asyncio.create_task(http.get(f"{base}/slow").__aenter__())
            await asyncio.wait_for(started.wait(), 10)
            request.cancel()  # the client gives up: its connection closes
            await asyncio.wait_for(cancelled.wait(), 10)
            async with http.get(f"{base}/metrics") as resp:
                text = await resp.text()
        assert 'route="/slow",status="499"' in text
        assert 'route="/slow",status="500"' not in text
    finally:
        await runner.cleanup()
