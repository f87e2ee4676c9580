"""The aiohttp application: `POST /process`, `GET /jobs/{jobId}`, `GET /healthz`, the search
API and page from `api/search.py` (`GET /search`, `/posts/...`, `/media/...`, `/`), the site
registry and schedules from `api/sites.py` (`/sites/...`) and push webhooks from
`api/hooks.py` (`/hooks/{host}`).

The Temporal client and settings are passed in (no globals), so tests build the same app
against their own dev server.

Also owns two guards that hold for every route: `parameter_guard` answers a JSON 400 to NUL
or invalid UTF-8 in any path segment or query parameter (decoded, such text reaches
Postgres, Temporal or the file system and fails there as a 500), and `json_errors` turns an
unexpected exception into a JSON 500 that is logged, never a text/plain stack trace page.
"""

from __future__ import annotations

import asyncio
import logging
import re
import signal
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import unquote_to_bytes

import asyncpg
from aiohttp import web
from pressroom.api import auth, hooks
from pressroom.api import metrics as api_metrics
from pressroom.api import search as search_api
from pressroom.api import sites as sites_api
from pressroom.api.job_cache import JobCache
from pressroom.api.job_status import JobAnswer, job_answers, respond
from pressroom.api.jobs import JobClosed, JobConflict, JobEnded, cancel_job, start_job
from pressroom.api.requests import SAFE_ID, BadRequest, ignored_fields, job_input, parse_job_request
from pressroom.api.temporal import connect_client
from temporalio.client import Client
from yarl import URL

from pressroom.config import Settings
from pressroom.db.pool import Database
from pressroom.embeddings.base import Embedder
from pressroom.models import JobInput
from pressroom.publish.layout import PublishRefused, folder_conflict
from pressroom.storage import store_location

log = logging.getLogger("pressroom.api")

CLIENT_KEY = web.AppKey("client", Client)
SETTINGS_KEY = web.AppKey("settings", Settings)
JOB_ANSWERS_KEY = web.AppKey("job_answers", JobCache[JobAnswer])
MAX_BODY_BYTES = 1024 * 1024
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


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
    ignored, ignored_count = ignored_fields(job_request)
    if ignored:
        log.warning(
            "job %s: ignoring %d unknown data field(s): %s",
            job.job_id,
            ignored_count,
            ", ".join(ignored),
            extra={"jobId": job.job_id, "ignored": ignored},
        )
    refused = await _folder_refusal(request.app, settings, job)
    if refused is not None:
        return _json(
            409,
            {
                "error": str(refused),
                "field": "data.distFolder",
                "owner": refused.owner,
                "jobId": job.job_id,
            },
        )
    try:
        started = await start_job(request.app[CLIENT_KEY], job, settings.temporal_task_queue)
    except JobConflict as conflict:
        return _json(
            409,
            {
                "error": f"job {job.job_id!r} already exists with a different request body",
                "jobId": job.job_id,
                "state": conflict.state,
            },
        )
    except JobEnded as ended:
        return _json(409, _ended_body(job.job_id, ended))
    reply: dict[str, Any] = {
        "status": "accepted",
        "jobId": job.job_id,
        "workflowId": started.workflow_id,
        "runId": started.run_id,
        "created": started.created,
        "state": started.state,
        "statusUrl": f"/jobs/{job.job_id}",
        "temporalUi": _ui_url(settings, job.job_id),
        "ignored": ignored,
    }
    if ignored_count > len(ignored):
        reply["ignoredCount"] = ignored_count
    return _json(202, reply)


async def _folder_refusal(
    app: web.Application, settings: Settings, job: JobInput
) -> PublishRefused | None:
    """Another site's claim on the job's folder (or one nested with it), from Postgres.

    The job's fetch step checks (and claims) again, so a database the API cannot reach only
    moves the refusal from this answer to the job's failure, before anything is published.
    """
    try:
        pool = await app[search_api.SEARCH_DB_KEY].pool()
        async with pool.acquire() as conn:
            return await folder_conflict(
                conn, store_location(settings.artifacts_location), job.dist_folder, job.site
            )
    except (OSError, asyncpg.PostgresError) as exc:
        log.warning("folder ownership not checked (database unavailable): %s", exc)
        return None


def _ended_body(job_id: str, ended: JobEnded) -> dict[str, Any]:
    return {
        "error": f"job {job_id!r} already ended {ended.state} ({ended.execution}); "
        "re-posting it would start nothing",
        "jobId": job_id,
        "state": ended.state,
        "execution": ended.execution,
        "hint": (
            "post the job again with a new jobId, or re-run this one with "
            f"`temporal workflow reset --workflow-id {job_id} --type LastWorkflowTask "
            "--reason retry` (or --event-id <id> to pick the step, see the README)"
        ),
        "statusUrl": f"/jobs/{job_id}",
    }


def _bad_job_id(job_id: str) -> web.Response | None:
    # No job can have such an id (POST /process refuses it); Temporal would answer an RPC
    # error for some of them (a 500), so they are refused here, naming the parameter.
    if re.fullmatch(SAFE_ID, job_id):
        return None
    return _json(400, {"error": "jobId is not a valid job id", "parameter": "jobId"})


async def get_job(request: web.Request) -> web.Response:
    job_id = request.match_info["job_id"]
    if (bad := _bad_job_id(job_id)) is not None:
        return bad
    answer = await request.app[JOB_ANSWERS_KEY].get(job_id)
    if answer is None:
        return _json(404, {"error": f"no job {job_id!r}", "jobId": job_id})
    return respond(request, answer)


async def delete_job(request: web.Request) -> web.Response:
    """Cancel a running job: 202 when requested, 404 unknown, 409 already ended."""
    job_id = request.match_info["job_id"]
    if (bad := _bad_job_id(job_id)) is not None:
        return bad
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


# --- guards for every route ---------------------------------------------------------------


def _text_problem(raw: str, *, plus_is_space: bool = False) -> str | None:
    """Why a percent-encoded URL component is refused (NUL, invalid UTF-8), or None."""
    data = unquote_to_bytes(raw.replace("+", " ") if plus_is_space else raw)
    if b"\x00" in data:
        return "contains NUL"
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return "is not valid UTF-8"
    return None


def url_problem(request: web.Request) -> dict[str, Any] | None:
    """The first bad path segment or query parameter of `request` as a 400 body, or None.

    Checked on the raw (still percent-encoded) URL: decoded, aiohttp keeps an invalid UTF-8
    sequence as `%ff` in the path and turns it into U+FFFD in the query, so only the raw
    bytes tell what the client sent.
    """
    path, _, query = request.raw_path.partition("?")
    for segment in path.split("/"):
        if (problem := _text_problem(segment)) is None:
            continue
        # Name the route parameter holding this segment when the route has one.
        decoded = URL.build(path="/" + segment, encoded=True).path[1:]
        parameter = next(
            (k for k, v in request.match_info.items() if decoded and decoded in v), "path"
        )
        return {"error": f"path parameter {parameter} {problem}", "parameter": parameter}
    for pair in query.split("&"):
        name, _, value = pair.partition("=")
        if _text_problem(name, plus_is_space=True) is not None:
            return {
                "error": "a query parameter name contains NUL or invalid UTF-8",
                "parameter": "query",
            }
        if (problem := _text_problem(value, plus_is_space=True)) is not None:
            shown = unquote_to_bytes(name.replace("+", " ")).decode()[:64]
            return {"error": f"query parameter {shown} {problem}", "parameter": shown}
    return None


@web.middleware
async def parameter_guard(request: web.Request, handler: Handler) -> web.StreamResponse:
    if (problem := url_problem(request)) is not None:
        return _json(400, problem)
    return await handler(request)


@web.middleware
async def json_errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        return await handler(request)
    except web.HTTPException:
        raise  # deliberate answers (404, 400 from the search API, ...) pass as they are
    except asyncio.CancelledError:
        raise
    except Exception:
        log.exception("unhandled error in %s %s", request.method, request.path)
        return _json(500, {"error": "internal error", "path": request.path})


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
    app[JOB_ANSWERS_KEY] = job_answers(
        client, lambda job_id: {"temporalUi": _ui_url(settings, job_id)}
    )
    api_metrics.install(app)  # first: it also counts requests the guards refuse
    app.middlewares.append(json_errors)  # inside metrics: a 500 is counted as answered
    auth.install(app, settings.api_tokens, settings.api_max_body_bytes)
    # After auth: an unauthenticated client learns nothing, not even what a bad URL is.
    app.middlewares.append(parameter_guard)
    app.router.add_delete("/jobs/{job_id}", delete_job)
    app.router.add_post("/process", process)
    app.router.add_get("/jobs/{job_id}", get_job)
    app.router.add_get("/healthz", healthz)
    app.middlewares.append(sites_api.bad_requests)
    search_api.install(app, settings, database=database, embedder=embedder)
    sites_api.install(app, settings, client)
    hooks.install(app)
    return app


def app_runner(app: web.Application, **options: Any) -> web.AppRunner:
    """The runner the API is served with (tests serve it the same way).

    A client that goes away cancels its handler, and with it the handler's database query:
    the search page aborts the search a later keystroke supersedes, and without this the
    server would still finish every aborted search before the one that is wanted."""
    return web.AppRunner(app, handler_cancellation=True, **options)


async def serve(settings: Settings) -> None:
    """Run the API until SIGTERM/SIGINT, then stop accepting and finish in-flight requests."""
    client = await connect_client(settings)
    runner = app_runner(create_app(settings, client), shutdown_timeout=10)
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
