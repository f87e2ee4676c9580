"""Push webhooks: `POST /hooks/github`, `/hooks/gitlab`, `/hooks/gitea` (Gitea and Forgejo).

A delivery is read (`pressroom.triggers.push`), matched to the sites registered for its
repository, and verified against each of those sites' webhook secret in constant time
(`pressroom.triggers.signatures`); no site whose secret verifies it means 401 and nothing
started. Each verified site then decides (`pressroom.triggers.matching`): a push to another
branch, or one whose changed files touch none of the site's content paths, starts nothing and
says why; otherwise the site's build starts at the pushed commit, under a job id made from
the delivery id, so a redelivered hook names the job it already started. The answer is quick
(a start is one Temporal call per site): 202 with what happened for each site, 200 to a ping.

Bearer tokens do not apply to these routes (a git host cannot send one): the signature is
their authentication (`api/auth.py` leaves `/hooks/` open).
"""

from __future__ import annotations

import hashlib
import logging
from datetime import UTC, datetime
from typing import Any

from aiohttp import web
from pressroom.api import sites as sites_api
from pressroom.api.requests import BadRequest
from pressroom.api.site_jobs import push_job_id, start_site_job

from pressroom.db import registrations as registry
from pressroom.db.registrations import Registration
from pressroom.models import JobTrigger
from pressroom.publish.latest import iso
from pressroom.security import sealing
from pressroom.triggers.hosts import HOSTS
from pressroom.triggers.matching import PushTarget, decide
from pressroom.triggers.push import MAX_BODY_BYTES, PayloadRejected, Push, read_event
from pressroom.triggers.signatures import verify

__all__ = ["install"]

log = logging.getLogger("pressroom.api")


def _json(status: int, body: dict[str, Any]) -> web.Response:
    return web.json_response(body, status=status)


def _secret(registration: Registration, settings: Any) -> str | None:
    sealed = registration.sealed.get("webhookSecret")
    if not sealed:
        return None
    try:
        return sealing.open_secret(sealed, settings)
    except sealing.SealError:
        # Sealed under another PRESSROOM_SECRETS_KEY: no delivery can verify against it.
        log.warning(
            "site %s: its webhook secret cannot be opened with this key; set it again",
            registration.site,
        )
        return None


async def _body(request: web.Request) -> bytes | None:
    """The payload, None when it is over MAX_BODY_BYTES. A push listing many commits and
    files is larger than the API's own body limit allows, so hooks read under the hosts' cap
    (GitHub's 25 MB), never more."""
    if request.content_length is not None and request.content_length > MAX_BODY_BYTES:
        return None
    chunks, size = [], 0
    async for chunk in request.content.iter_chunked(64 * 1024):
        size += len(chunk)
        if size > MAX_BODY_BYTES:
            return None
        chunks.append(chunk)
    return b"".join(chunks)


def _delivery(push: Push, raw: bytes) -> str:
    """The delivery's id; a host that sent none is named by its body, which a redelivery
    repeats byte for byte."""
    return push.delivery or "body-" + hashlib.sha256(raw).hexdigest()[:32]


def _target(registration: Registration) -> PushTarget:
    spec = registration.spec
    return PushTarget(
        site=registration.site,
        repository=registration.repository_key,
        branch=spec.get("branch"),
        content_paths=tuple(spec.get("contentPaths") or ()),
    )


async def receive(request: web.Request) -> web.Response:
    host = request.match_info["host"]
    if host not in HOSTS:
        return _json(404, {"error": f"no hook for {host[:32]!r}", "hosts": list(HOSTS)})
    client = request.app[sites_api.CLIENT_KEY]
    settings = request.app[sites_api.SETTINGS_KEY]
    raw = await _body(request)
    if raw is None:
        error = f"payload over {MAX_BODY_BYTES} bytes (the git hosts' own cap)"
        return _json(413, {"error": error, "maxBytes": MAX_BODY_BYTES})
    try:
        push = read_event(host, request.headers, raw)
    except PayloadRejected as err:
        return _json(400, {"error": str(err)})
    pool = await sites_api.pool_of(request)
    async with pool.acquire() as conn:
        candidates = await registry.registrations_for_repository(conn, sorted(push.repositories))
        if not candidates:
            return _json(
                404,
                {
                    "error": "no registered site builds this repository",
                    "repositories": sorted(push.repositories)[:5],
                },
            )
        verified = [
            r
            for r in candidates
            if (secret := _secret(r, settings)) and verify(host, request.headers, raw, secret)
        ]
        if not verified:
            return _json(
                401,
                {
                    "error": "the signature or token matches no registered site's webhook "
                    "secret for this repository (or the site has none set)"
                },
            )
        names = [r.site for r in verified]
        if push.event == "ping":
            return _json(200, {"status": "pong", "sites": names})
        if push.event != "push":
            reason = f"{push.event!r} events start no build (only pushes do)"
            return _json(202, {"status": "ignored", "reason": reason, "sites": names})
        delivery = _delivery(push, raw)
        outcomes = [await _one_site(client, settings, conn, r, push, delivery) for r in verified]
    started = any(o.get("jobId") for o in outcomes)
    return _json(
        202,
        {"status": "accepted" if started else "ignored", "delivery": delivery, "sites": outcomes},
    )


async def _one_site(
    client: Any, settings: Any, conn: Any, registration: Registration, push: Push, delivery: str
) -> dict[str, Any]:
    site = registration.site
    decision = decide(push, _target(registration))
    outcome: dict[str, Any] = {"site": site, "build": decision.build, "reason": decision.reason}
    if decision.build:
        trigger = JobTrigger(
            kind="webhook", site=site, host=push.host, delivery=delivery, commit=push.after
        )
        job_id = push_job_id(site, push.host, delivery)
        try:
            job = await start_site_job(
                client, settings, conn, registration, job_id, trigger, commit=push.after
            )
        except BadRequest as err:
            outcome.update(build=False, reason=f"the site's registration is refused: {err}")
        else:
            outcome.update(jobId=job.job_id, created=job.created, state=job.state)
            if not job.created:
                outcome["reason"] = f"redelivery: job {job.job_id} was started for it before"
            outcome["statusUrl"] = f"/jobs/{job.job_id}"
    now = iso(datetime.now(UTC))
    await registry.record_delivery(
        conn, site, {"host": push.host, "delivery": delivery, "at": now, **outcome}
    )
    return outcome


def install(app: web.Application) -> None:
    """The hook route; needs `api/sites.py` installed (its client, settings, database)."""
    app.router.add_post("/hooks/{host}", receive)
