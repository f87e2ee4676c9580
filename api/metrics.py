"""API observability: Prometheus request metrics (`GET /metrics`) and one access-log line per
request, with the job id when the request names one.

Each app gets its own registry (no process-global state), so several apps in one process (the
tests) never share or clash on counters. Routes are labelled by their pattern
(`/jobs/{job_id}`), never by the raw path, so label cardinality stays bounded.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram
from prometheus_client.exposition import generate_latest

from pressroom.runtime.logs import log_context

log = logging.getLogger("pressroom.api.access")

REGISTRY_KEY = web.AppKey("metrics_registry", CollectorRegistry)
# Handlers may set request[JOB_ID] when the job id comes from the body (POST /process).
# A typed key where aiohttp has them (3.14+), a plain string before.
JOB_ID: Any = (
    web.RequestKey("pressroom_job_id", str) if hasattr(web, "RequestKey") else "pressroom_job_id"
)
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
# nginx's status for "the client closed the request before the answer": never sent, counted.
CLIENT_CLOSED = 499


class ApiMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.requests = Counter(
            "pressroom_api_requests",
            "API requests by method, route and status",
            ["method", "route", "status"],
            registry=registry,
        )
        self.latency = Histogram(
            "pressroom_api_request_duration_seconds",
            "API request latency by method and route",
            ["method", "route"],
            registry=registry,
        )


def _route(request: web.Request) -> str:
    info = request.match_info
    resource = info.route.resource if info.http_exception is None else None
    return resource.canonical if resource is not None else "unmatched"


def metrics_middleware(metrics: ApiMetrics) -> Callable[..., Awaitable[web.StreamResponse]]:
    @web.middleware
    async def observe(request: web.Request, handler: Handler) -> web.StreamResponse:
        started = time.perf_counter()
        status = 500
        job_id = request.match_info.get("job_id")
        try:
            with log_context(jobId=job_id):
                response = await handler(request)
            status = response.status
            return response
        except web.HTTPException as exc:
            status = exc.status
            raise
        except asyncio.CancelledError:
            status = CLIENT_CLOSED  # the client went away and its handler was cancelled
            raise
        finally:
            elapsed = time.perf_counter() - started
            route = _route(request)
            metrics.requests.labels(request.method, route, str(status)).inc()
            metrics.latency.labels(request.method, route).observe(elapsed)
            with log_context(jobId=request.get(JOB_ID) or job_id):
                log.info(
                    "%s %s %s",
                    request.method,
                    request.path,
                    status,
                    extra={
                        "method": request.method,
                        "path": request.path,
                        "status": status,
                        "durationMs": round(elapsed * 1000, 2),
                    },
                )

    return observe


async def metrics_endpoint(request: web.Request) -> web.Response:
    body = generate_latest(request.app[REGISTRY_KEY])
    return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})


def install(app: web.Application) -> None:
    """Register `GET /metrics` and the middleware; call before other middlewares are added,
    so it sees every request, the ones refused by auth or the body limit included."""
    registry = CollectorRegistry()
    app[REGISTRY_KEY] = registry
    app.middlewares.append(metrics_middleware(ApiMetrics(registry)))
    app.router.add_get("/metrics", metrics_endpoint)
