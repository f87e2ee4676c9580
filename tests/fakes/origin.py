"""A loopback HTTP origin that records every request it receives.

Used as the "internal target" in SSRF tests (it must record no hit) and as the server of
remote archives (tar.gz/zip downloads, redirects, errors, oversized bodies).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

from aiohttp import web

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@dataclass
class Origin:
    """A running origin: `url` is `http://127.0.0.1:<port>`, `hits` the paths requested."""

    port: int
    routes: dict[str, Handler]
    hits: list[str] = field(default_factory=list)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def route(self, path: str, handler: Handler) -> None:
        self.routes[path] = handler

    def serve_bytes(self, path: str, body: bytes, content_type: str) -> None:
        async def handler(request: web.Request) -> web.StreamResponse:
            return web.Response(body=body, content_type=content_type)

        self.route(path, handler)

    def redirect(self, path: str, location: str, status: int = 302) -> None:
        async def handler(request: web.Request) -> web.StreamResponse:
            return web.Response(status=status, headers={"Location": location})

        self.route(path, handler)


@asynccontextmanager
async def running_origin() -> AsyncIterator[Origin]:
    """Start an origin on 127.0.0.1 and a free port; unknown paths answer 404."""
    origin = Origin(port=0, routes={})

    async def dispatch(request: web.Request) -> web.StreamResponse:
        origin.hits.append(request.path)
        handler = origin.routes.get(request.path)
        if handler is None:
            return web.Response(status=404)
        return await handler(request)

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", dispatch)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    origin.port = runner.addresses[0][1]
    try:
        yield origin
    finally:
        await runner.cleanup()
