"""The aiohttp application: `POST /process`, `GET /jobs/{jobId}`, `GET /healthz`, and the
search API and page from `api/search.py` (`GET /search`, `/posts/...`, `/media/...`, `/`).

The Temporal client and settings are passed in (no globals), so tests build the same app
against their own dev server.
"""

from __future__ import annotations

import asyncio
import logging
import signal
from typing import Any

from aiohttp import web
from temporalio.client import Client

from api import auth
from api import metrics as api_metrics
from api import search as search_api
from api.jobs import JobClosed, JobConflict, cancel_job, describe_job, start_job
from api.requests import BadRequest, job_input, parse_job_request
from pressroom.config import Settings
from pressroom.db_pool import Database
from pressroom.embeddings.base import Embedder
from workflows.client import connect_client

log = logging.getLogger("pressroom.api")

CLIENT_KEY = web.AppKey("client", Client)
SETTINGS_KEY = web.AppKey("settings", Settings)
MAX_BODY_BYTES = 1024 * 1024


def _json(status: int, body: dict[str, Any]) -> web.Response:
    return web.json_response(body, status=status)


async def process(request: web.Request) -> web.Response:
    settings = request.app[SETTINGS_KEY]
    try:
        raw = await request.read()
        job_request, body = parse_job_request(raw)
    except BadRequest as err:
        return _json(400, err.body())
    job = job_input(job_request, body, settings)
    request[api_metrics.JOB_ID] = job.job_id
    try:
        started = await start_job(request.app[CLIENT_KEY], job, settings.temporal_task_queue)
    except JobConflict:
        return _json(
            409,
            {
                "error": f"job {job.job_id!r} already exists with a different request body",
                "jobId": job.job_id,
            },
        )
    return _json(
        202,
        {
            "status": "accepted",
            "jobId": job.job_id,
            "workflowId": started.workflow_id,
            "runId": started.run_id,
            "created": started.created,
            "statusUrl": f"/jobs/{job.job_id}",
            "temporalUi": _ui_url(settings, job.job_id),
        },
    )


async def get_job(request: web.Request) -> web.Response:
    job_id = request.match_info["job_id"]
    view = await describe_job(request.app[CLIENT_KEY], job_id)
    if view is None:
        return _json(404, {"error": f"no job {job_id!r}", "jobId": job_id})
    view["temporalUi"] = _ui_url(request.app[SETTINGS_KEY], job_id)
    return _json(200, view)


async def delete_job(request: web.Request) -> web.Response:
    """Cancel a running job: 202 when requested, 404 unknown, 409 already ended."""
    job_id = request.match_info["job_id"]
    try:
        found = await cancel_job(request.app[CLIENT_KEY], job_id)
    except JobClosed as closed:
        body = {"error": f"job {job_id!r} already {closed.state}", "jobId": job_id}
        return _json(409, {**body, "state": closed.state})
    if not found:
        return _json(404, {"error": f"no job {job_id!r}", "jobId": job_id})
    return _json(202, {"status": "cancelling", "jobId": job_id, "statusUrl": f"/jobs/{job_id}"})


async def healthz(request: web.Request) -> web.Response:
    client = request.app[CLIENT_KEY]
    try:
        await asyncio.wait_for(client.service_client.check_health(), timeout=3)
    except Exception as exc:
        return _json(503, {"status": "unavailable", "temporal": str(exc) or type(exc).__name__})
    return _json(200, {"status": "ok"})


def _ui_url(settings: Settings, job_id: str) -> str:
    base = settings.temporal_ui_url.rstrip("/")
    return f"{base}/namespaces/{settings.temporal_namespace}/workflows/{job_id}"


def create_app(
    settings: Settings,
    client: Client,
    *,
    database: Database | None = None,
    embedder: Embedder | None = None,
) -> web.Application:
    """The API app. `database`/`embedder` serve searches; unset, the app opens its own from
    `settings` (and closes them on cleanup)."""
    app = web.Application(client_max_size=settings.api_max_body_bytes)
    app[CLIENT_KEY] = client
    app[SETTINGS_KEY] = settings
    api_metrics.install(app)  # first: it also counts requests the guards refuse
    auth.install(app, settings.api_tokens, settings.api_max_body_bytes)
    app.router.add_delete("/jobs/{job_id}", delete_job)
    app.router.add_post("/process", process)
    app.router.add_get("/jobs/{job_id}", get_job)
    app.router.add_get("/healthz", healthz)
    search_api.install(app, settings, database=database, embedder=embedder)
    return app


async def serve(settings: Settings) -> None:
    """Run the API until SIGTERM/SIGINT, then stop accepting and finish in-flight requests."""
    client = await connect_client(settings)
    runner = web.AppRunner(create_app(settings, client), shutdown_timeout=10)
    await runner.setup()
    site = web.TCPSite(runner, settings.api_host, settings.api_port)
    await site.start()
    log.info("API listening on http://%s:%s", settings.api_host, settings.api_port)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    try:
        await stop.wait()
        log.info("shutting down: no new connections, finishing in-flight requests")
    finally:
        await runner.cleanup()
    log.info("API stopped")
