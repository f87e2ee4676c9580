"""The aiohttp application: `POST /process`, `GET /jobs/{jobId}`, `GET /healthz`.

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

from api.jobs import JobConflict, describe_job, start_job
from api.requests import BadRequest, job_input, parse_job_request
from pressroom.config import Settings
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


def create_app(settings: Settings, client: Client) -> web.Application:
    app = web.Application(client_max_size=MAX_BODY_BYTES)
    app[CLIENT_KEY] = client
    app[SETTINGS_KEY] = settings
    app.router.add_post("/process", process)
    app.router.add_get("/jobs/{job_id}", get_job)
    app.router.add_get("/healthz", healthz)
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
    finally:
        await runner.cleanup()
