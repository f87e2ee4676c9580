"""API hardening against the real app on loopback: bearer tokens (constant-time, `/healthz`
open, a warning when auth is off), the body size limit as a JSON 413, and identifiers that
would become workflow ids, storage keys or paths refused with 400."""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

import aiohttp
import pytest
from aiohttp import web
from pressroom.api.app import create_app
from pressroom.api.auth import parse_tokens, token_ok
from pydantic import SecretStr
from temporalio.client import Client

from pressroom.config import Settings

TOKENS = "alpha-token-123, beta-token-456"


@asynccontextmanager
async def serve(settings: Settings, client: Client) -> AsyncIterator[str]:
    runner = web.AppRunner(create_app(settings, client))
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    try:
        yield f"http://127.0.0.1:{runner.addresses[0][1]}"
    finally:
        await runner.cleanup()


def body(**data: object) -> dict[str, object]:
    out: dict[str, object] = {"jobId": "auth-job", "task": "process-all"}
    out["data"] = {"repoUrl": "/nowhere", **data}
    return out


# --- tokens ----------------------------------------------------------------------------------


def test_tokens_are_parsed_and_compared_by_digest() -> None:
    accepted = parse_tokens(SecretStr(" a-long-token ,, other-token "))
    assert len(accepted) == 2
    assert token_ok("a-long-token", accepted)
    assert token_ok("other-token", accepted)
    assert not token_ok("a-long-toke", accepted)
    assert not token_ok("", accepted)
    assert parse_tokens(None) == []
    assert parse_tokens(SecretStr(" , ")) == []


async def test_requests_without_a_valid_token_are_refused(
    settings: Settings, temporal_client: Client
) -> None:
    guarded = settings.model_copy(update={"api_tokens": SecretStr(TOKENS)})
    calls: list[tuple[str, str, Callable[[], dict[str, object] | None]]] = [
        ("POST", "/process", lambda: body()),
        ("GET", "/jobs/some-job", lambda: None),
        ("DELETE", "/jobs/some-job", lambda: None),
        ("GET", "/metrics", lambda: None),
    ]
    bad_headers: list[dict[str, str]] = [
        {},
        {"Authorization": "Bearer wrong-token"},
        {"Authorization": "Basic YWxwaGEtdG9rZW4tMTIzOg=="},
        {"Authorization": "alpha-token-123"},
        {"Authorization": "Bearer "},
        {"Authorization": "Bearer alpha-token-123x"},
    ]
    async with serve(guarded, temporal_client) as url, aiohttp.ClientSession() as http:
        for method, path, make in calls:
            for headers in bad_headers:
                async with http.request(method, url + path, json=make(), headers=headers) as r:
                    assert r.status == 401, (method, path, headers)
                    assert r.headers["WWW-Authenticate"].startswith("Bearer")
                    assert (await r.json())["error"] == "missing or invalid bearer token"
        # /healthz stays open for load balancers.
        async with http.get(url + "/healthz") as r:
            assert r.status == 200
        # Either token works; the request then reaches the route (404/400, not 401).
        for token in ("alpha-token-123", "beta-token-456"):
            auth = {"Authorization": f"Bearer {token}"}
            async with http.get(url + "/jobs/no-such-job", headers=auth) as r:
                assert r.status == 404
            async with http.post(url + "/process", json={"jobId": 5}, headers=auth) as r:
                assert r.status == 400
        async with http.get(
            url + "/metrics", headers={"authorization": "bearer alpha-token-123"}
        ) as r:
            assert r.status == 200


async def test_auth_off_is_announced_at_startup(
    settings: Settings, temporal_client: Client, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="pressroom.api")
    assert settings.api_tokens is None
    async with serve(settings, temporal_client) as url, aiohttp.ClientSession() as http:
        async with http.get(url + "/jobs/no-such-job") as r:
            assert r.status == 404
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert any("API authentication is OFF" in r.getMessage() for r in warnings)


# --- body size -------------------------------------------------------------------------------


async def test_bodies_over_the_limit_get_a_json_413(
    settings: Settings, temporal_client: Client
) -> None:
    small = settings.model_copy(update={"api_max_body_bytes": 2048})
    big = json.dumps(body(padding="x" * 4096)).encode()

    async def chunks() -> AsyncIterator[bytes]:
        for i in range(0, len(big), 512):
            yield big[i : i + 512]

    async with serve(small, temporal_client) as url, aiohttp.ClientSession() as http:
        async with http.post(url + "/process", data=big) as r:  # with Content-Length
            assert r.status == 413
            assert (await r.json())["maxBytes"] == 2048
        async with http.post(url + "/process", data=chunks()) as r:  # chunked: no length
            assert r.status == 413
            assert (await r.json())["maxBytes"] == 2048
        async with http.post(url + "/process", json={"jobId": 5}) as r:  # small: validated
            assert r.status == 400


# --- identifiers -----------------------------------------------------------------------------

HOSTILE = [
    "..",
    "../etc",
    "a/../b",
    "/abs",
    "/etc/passwd",
    "a\x00b",
    "x\n",
    "\\windows",
    "C:\\x",
    ".hidden",
    "-option",
    "a" * 129,
    "",
]


@pytest.mark.parametrize("field", ["jobId", "site", "revisionId", "distFolder"])
async def test_hostile_identifiers_are_refused(
    field: str, settings: Settings, temporal_client: Client
) -> None:
    async with serve(settings, temporal_client) as url, aiohttp.ClientSession() as http:
        for value in HOSTILE:
            if field == "distFolder" and value == "a" * 129:
                continue  # a long folder name is fine; its segments are checked
            request = body()
            if field == "jobId":
                request["jobId"] = value
            else:
                request["data"] = {**request["data"], field: value}  # type: ignore[dict-item]
            async with http.post(url + "/process", json=request) as r:
                answer = await r.json()
                assert r.status == 400, (field, value, answer)
                expected = field if field == "jobId" else f"data.{field}"
                assert answer["field"] == expected, (value, answer)
        for value in ("dist/../../etc", "dist//x", "dist/./x"):
            if field != "distFolder":
                break
            request = body(distFolder=value)
            async with http.post(url + "/process", json=request) as r:
                assert r.status == 400, value
