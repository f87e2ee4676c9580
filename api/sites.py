"""The site routes: the registry (`PUT/GET/DELETE /sites/{site}`, `GET /sites`), builds by
name (`POST /sites/{site}/builds`) and schedules (`PUT/GET/DELETE /sites/{site}/schedule`,
`POST /sites/{site}/schedule/trigger`).

`GET /sites` lists every site there is to know of: those with a current revision (what the
search page offers) and those registered, each with its revision, last job, schedule and
webhook state. A site's detail adds what Temporal says of its schedule and its newest job.
"""

from __future__ import annotations

import json
import logging
from datetime import datetime
from typing import Any

import asyncpg
from aiohttp import web
from pressroom.api import schedules
from pressroom.api.requests import BadRequest, check_tree
from pressroom.api.search import DB_DOWN, SEARCH_DB_KEY, database_unavailable
from pressroom.api.site_jobs import build_job_id, start_site_job
from pressroom.api.site_requests import check_site_name, parse_registration
from pressroom.workflows.search_attributes import SITE, STATE
from temporalio.client import Client
from temporalio.service import RPCError, RPCStatusCode

from pressroom.config import Settings
from pressroom.db import registrations as registry
from pressroom.db.registrations import Registration
from pressroom.db.sites import Revision, current_revision, current_revisions
from pressroom.models import JobTrigger
from pressroom.publish.latest import iso
from pressroom.publish.layout import folder_conflict
from pressroom.storage import store_location

__all__ = ["install", "site_view"]

log = logging.getLogger("pressroom.api")

CLIENT_KEY = web.AppKey("sites_client", Client)
SETTINGS_KEY = web.AppKey("sites_settings", Settings)


def _json(status: int, body: dict[str, Any]) -> web.Response:
    return web.json_response(body, status=status)


def _iso(value: datetime | None) -> str | None:
    return iso(value) if value is not None else None


def _revision(revision: Revision | None) -> dict[str, Any] | None:
    if revision is None:
        return None
    return {
        "id": revision.revision_id,
        "counts": revision.counts,
        "committedAt": _iso(revision.committed_at),
    }


def site_view(
    registration: Registration | None, revision: Revision | None, site: str
) -> dict[str, Any]:
    """A site as `GET /sites` lists it (the search page reads `site` and `revision`)."""
    view: dict[str, Any] = {
        "site": site,
        "revision": revision.revision_id if revision else None,
        "counts": revision.counts if revision else {},
        "committedAt": _iso(revision.committed_at) if revision else None,
        "registered": registration is not None,
    }
    if registration is not None:
        view.update(
            registration.spec,
            webhook=_webhook(registration),
            lastJob=registration.last_job,
            schedule=registration.schedule,
            createdAt=_iso(registration.created_at),
            updatedAt=_iso(registration.updated_at),
        )
    return view


def _webhook(registration: Registration) -> dict[str, Any]:
    return {
        "secret": bool(registration.sealed.get("webhookSecret")),
        "repository": registration.repository_key,
        "lastDelivery": registration.last_delivery,
    }


async def pool_of(request: web.Request) -> asyncpg.Pool:
    """The API's database pool (opened by the search API's startup, shared by every route)."""
    return await request.app[SEARCH_DB_KEY].pool()


def _site(request: web.Request) -> str:
    site = request.match_info["site"]
    check_site_name(site)
    return site


def _no_site(site: str) -> web.Response:
    return _json(404, {"error": f"no registered site {site!r}", "site": site})


async def list_sites(request: web.Request) -> web.Response:
    try:
        pool = await pool_of(request)
        async with pool.acquire() as conn:
            revisions = {r.site: r for r in await current_revisions(conn)}
            registered = {r.site: r for r in await registry.list_registrations(conn)}
    except DB_DOWN as exc:
        return database_unavailable(exc)
    names = sorted(set(revisions) | set(registered))
    return _json(200, {"sites": [site_view(registered.get(s), revisions.get(s), s) for s in names]})


async def _newest_job(client: Client, site: str) -> dict[str, Any] | None:
    """The site's newest job of any trigger, from Temporal visibility."""
    query = f"WorkflowType = 'ProcessJob' AND {SITE.name} = '{site}'"
    async for wf in client.list_workflows(query, limit=1):
        return {
            "jobId": wf.id,
            "state": wf.typed_search_attributes.get(STATE),
            "startedAt": _iso(wf.start_time),
            "closedAt": _iso(wf.close_time),
            "statusUrl": f"/jobs/{wf.id}",
        }
    return None


async def get_site(request: web.Request) -> web.Response:
    site = _site(request)
    client, settings = request.app[CLIENT_KEY], request.app[SETTINGS_KEY]
    pool = await pool_of(request)
    async with pool.acquire() as conn:
        registration = await registry.get_registration(conn, site)
        revision = await current_revision(conn, site)
    if registration is None:
        return _no_site(site)
    view = site_view(registration, revision, site)
    view["schedule"] = await schedules.describe_schedule(
        client, settings, site, registration.schedule
    )
    view["newestJob"] = await _newest_job(client, site)
    return _json(200, view)


async def put_site(request: web.Request) -> web.Response:
    site = _site(request)
    client, settings = request.app[CLIENT_KEY], request.app[SETTINGS_KEY]
    raw = await request.read()
    pool = await pool_of(request)
    async with pool.acquire() as conn:
        previous = await registry.get_registration(conn, site)
        spec, sealed, key = parse_registration(site, raw, settings, previous)
        location = store_location(settings.artifacts_location)
        refused = await folder_conflict(conn, location, spec["distFolder"], site)
        if refused is not None:  # as POST /process would answer each of its builds
            error = {"error": str(refused), "field": "distFolder", "owner": refused.owner}
            return _json(409, error)
        registration, created = await registry.put_registration(conn, site, spec, sealed, key)
        revision = await current_revision(conn, site)
    # A schedule builds what the site is registered as now, not as it was when scheduled.
    if previous is not None and previous.schedule is not None:
        await schedules.refresh_schedule(client, settings, registration)
    return _json(201 if created else 200, site_view(registration, revision, site))


async def delete_site(request: web.Request) -> web.Response:
    """Forget the site: its registration and its schedule. Its published revisions and its
    search rows stay (a build of it by `POST /process` still works)."""
    site = _site(request)
    pool = await pool_of(request)
    async with pool.acquire() as conn:
        if await registry.get_registration(conn, site) is None:
            return _no_site(site)
        schedule_deleted = await schedules.delete_schedule(request.app[CLIENT_KEY], site)
        await registry.delete_registration(conn, site)
    return _json(200, {"status": "deleted", "site": site, "scheduleDeleted": schedule_deleted})


async def _registration(request: web.Request, site: str) -> Registration | None:
    pool = await pool_of(request)
    async with pool.acquire() as conn:
        return await registry.get_registration(conn, site)


async def post_build(request: web.Request) -> web.Response:
    """Start a build of the registered site now; optional body `{"jobId": ...}`."""
    site = _site(request)
    client, settings = request.app[CLIENT_KEY], request.app[SETTINGS_KEY]
    raw = await request.read()
    body = _optional_object(raw)
    job_id = body.get("jobId", build_job_id(site))
    unknown = sorted(set(body) - {"jobId"})
    if unknown:
        raise BadRequest(f"unknown field {unknown[0][:64]!r}", field=unknown[0][:64])
    if not isinstance(job_id, str):
        raise BadRequest("jobId: must be a string", field="jobId")
    pool = await pool_of(request)
    async with pool.acquire() as conn:
        registration = await registry.get_registration(conn, site)
        if registration is None:
            return _no_site(site)
        trigger = JobTrigger(kind="api", site=site)
        started = await start_site_job(client, settings, conn, registration, job_id, trigger)
    if started.conflict is not None:
        return _json(
            409,
            {
                "error": f"job {job_id!r} {started.conflict}",
                "jobId": job_id,
                "state": started.state,
            },
        )
    return _json(
        202,
        {
            "status": "accepted",
            "jobId": started.job_id,
            "created": started.created,
            "state": started.state,
            "site": site,
            "statusUrl": f"/jobs/{started.job_id}",
        },
    )


def _optional_object(raw: bytes) -> dict[str, Any]:
    if not raw.strip():
        return {}
    try:
        body = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as exc:
        raise BadRequest(f"malformed JSON: {exc}") from None
    if not isinstance(body, dict):
        raise BadRequest("request body must be a JSON object")
    check_tree(body)
    return body


async def put_schedule(request: web.Request) -> web.Response:
    site = _site(request)
    client, settings = request.app[CLIENT_KEY], request.app[SETTINGS_KEY]
    raw = await request.read()
    try:
        body = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as exc:
        raise BadRequest(f"malformed JSON: {exc}") from None
    wanted = schedules.parse_schedule(body)
    registration = await _registration(request, site)
    if registration is None:
        return _no_site(site)
    created = await schedules.put_schedule(client, settings, registration, wanted)
    pool = await pool_of(request)
    async with pool.acquire() as conn:
        await registry.record_schedule(conn, site, wanted.shown())
    view = await schedules.describe_schedule(client, settings, site, wanted.shown())
    return _json(201 if created else 200, {"site": site, "schedule": view})


async def get_schedule(request: web.Request) -> web.Response:
    site = _site(request)
    registration = await _registration(request, site)
    if registration is None:
        return _no_site(site)
    view = await schedules.describe_schedule(
        request.app[CLIENT_KEY], request.app[SETTINGS_KEY], site, registration.schedule
    )
    if view is None:
        return _json(404, {"error": f"site {site!r} has no schedule", "site": site})
    return _json(200, {"site": site, "schedule": view})


async def delete_schedule(request: web.Request) -> web.Response:
    site = _site(request)
    if await _registration(request, site) is None:
        return _no_site(site)
    deleted = await schedules.delete_schedule(request.app[CLIENT_KEY], site)
    pool = await pool_of(request)
    async with pool.acquire() as conn:
        await registry.record_schedule(conn, site, None)
    if not deleted:
        return _json(404, {"error": f"site {site!r} has no schedule", "site": site})
    return _json(200, {"status": "deleted", "site": site})


async def trigger_schedule(request: web.Request) -> web.Response:
    """Run the site's schedule now (its overlap policy applies: a running build is not
    doubled)."""
    site = _site(request)
    if await _registration(request, site) is None:
        return _no_site(site)
    if not await schedules.trigger_schedule(request.app[CLIENT_KEY], site):
        return _json(404, {"error": f"site {site!r} has no schedule", "site": site})
    return _json(202, {"status": "triggered", "site": site, "statusUrl": f"/sites/{site}"})


@web.middleware
async def bad_requests(request: web.Request, handler: Any) -> web.StreamResponse:
    """A BadRequest raised by any site or hook route is its JSON 400; Postgres or Temporal
    out of reach is a 503 saying which, not a 500."""
    try:
        return await handler(request)
    except BadRequest as err:
        return _json(400, err.body())
    except DB_DOWN as exc:
        return database_unavailable(exc)
    except RPCError as err:
        if err.status not in (RPCStatusCode.UNAVAILABLE, RPCStatusCode.DEADLINE_EXCEEDED):
            raise
        log.warning("Temporal unavailable: %s", err)
        return _json(503, {"error": "Temporal is unavailable", "detail": err.message[:200]})


def install(app: web.Application, settings: Settings, client: Client) -> None:
    app[CLIENT_KEY], app[SETTINGS_KEY] = client, settings
    app.router.add_get("/sites", list_sites)
    app.router.add_get("/sites/{site}", get_site)
    app.router.add_put("/sites/{site}", put_site)
    app.router.add_delete("/sites/{site}", delete_site)
    app.router.add_post("/sites/{site}/builds", post_build)
    app.router.add_get("/sites/{site}/schedule", get_schedule)
    app.router.add_put("/sites/{site}/schedule", put_schedule)
    app.router.add_delete("/sites/{site}/schedule", delete_schedule)
    app.router.add_post("/sites/{site}/schedule/trigger", trigger_schedule)
