"""Request guards for the API: bearer-token authentication and the request body size limit.

Owns: `API_TOKENS` (comma-separated; any one of them is accepted) checked in constant time,
with `/healthz` left open for load balancers and `/hooks/` for git hosts (which sign
instead); a loud startup warning when no token is set
(auth off, the development default); and the body limit (`API_MAX_BODY_BYTES`), answered as
a JSON 413 whether the client declared its length up front or streamed too much.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
from collections.abc import Awaitable, Callable

from aiohttp import web
from pydantic import SecretStr

log = logging.getLogger("pressroom.api")

OPEN_PATHS = frozenset({"/healthz"})
# Push webhooks authenticate by their host's signature (api/hooks.py), never a bearer token.
OPEN_PREFIXES = ("/hooks/",)
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def parse_tokens(raw: SecretStr | None) -> list[bytes]:
    """The accepted tokens as sha256 digests (equal lengths, so comparing leaks no length)."""
    if raw is None:
        return []
    tokens = [t.strip() for t in raw.get_secret_value().split(",")]
    return [hashlib.sha256(t.encode()).digest() for t in tokens if t]


def token_ok(presented: str, accepted: list[bytes]) -> bool:
    digest = hashlib.sha256(presented.encode("utf-8", "replace")).digest()
    matched = False
    for candidate in accepted:
        # Compare against every token: the time taken must not tell which one (or none) matched.
        matched |= hmac.compare_digest(digest, candidate)
    return matched


def _bearer(request: web.Request) -> str | None:
    header = request.headers.get("Authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() != "bearer" or not value.strip():
        return None
    return value.strip()


def auth_middleware(accepted: list[bytes]) -> Callable[..., Awaitable[web.StreamResponse]]:
    @web.middleware
    async def check_token(request: web.Request, handler: Handler) -> web.StreamResponse:
        if not accepted or request.path in OPEN_PATHS or request.path.startswith(OPEN_PREFIXES):
            return await handler(request)
        presented = _bearer(request)
        if presented is None or not token_ok(presented, accepted):
            return web.json_response(
                {"error": "missing or invalid bearer token"},
                status=401,
                headers={"WWW-Authenticate": 'Bearer realm="pressroom"'},
            )
        return await handler(request)

    return check_token


def body_limit_middleware(max_bytes: int) -> Callable[..., Awaitable[web.StreamResponse]]:
    """A JSON 413 for bodies over `max_bytes` (aiohttp's own limit, `client_max_size`, still
    enforces it while reading a body sent without Content-Length; its error becomes JSON here)."""

    def too_large() -> web.Response:
        return web.json_response(
            {"error": f"request body over {max_bytes} bytes", "maxBytes": max_bytes}, status=413
        )

    @web.middleware
    async def limit(request: web.Request, handler: Handler) -> web.StreamResponse:
        if request.path.startswith(OPEN_PREFIXES):
            return await handler(request)  # webhooks read under their host's own cap (hooks.py)
        if request.content_length is not None and request.content_length > max_bytes:
            return too_large()
        try:
            return await handler(request)
        except web.HTTPRequestEntityTooLarge:
            return too_large()

    return limit


def install(app: web.Application, tokens: SecretStr | None, max_body_bytes: int) -> None:
    """Add the guards to `app` (before routes run) and say loudly when auth is off."""
    accepted = parse_tokens(tokens)
    if not accepted:
        log.warning(
            "API authentication is OFF: API_TOKENS is not set, so anyone who can reach this "
            "port can start and cancel jobs. Set API_TOKENS for any shared deployment."
        )
    # Auth first: an unauthenticated client learns nothing, not even the size limit.
    app.middlewares.append(auth_middleware(accepted))
    app.middlewares.append(body_limit_middleware(max_body_bytes))
