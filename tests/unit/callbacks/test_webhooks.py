"""Standard Webhooks signing/verification and single-attempt delivery against a real server."""

from __future__ import annotations

import asyncio
import json
import socket
import time
from collections.abc import AsyncIterator, Callable
from email.utils import formatdate

import aiohttp
import pytest
from aiohttp import web
from standardwebhooks import Webhook, WebhookVerificationError

from pressroom.callbacks.webhooks import (
    USER_AGENT,
    callback_body,
    deliver,
    parse_retry_after,
    sign,
    webhook,
    webhook_headers,
)

# The example from the Standard Webhooks specification.
SPEC_SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
SPEC_ID = "msg_p5jXN8AQM9LWM0D4loKWxJek"
SPEC_TS = 1614265330
SPEC_BODY = b'{"test": 2432232314}'
SPEC_SIG = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="


def spec_headers(**overrides: str) -> dict[str, str]:
    return {
        "webhook-id": SPEC_ID,
        "webhook-timestamp": str(SPEC_TS),
        "webhook-signature": SPEC_SIG,
        **overrides,
    }


# --- signing and verification --------------------------------------------------------------


def test_sign_matches_spec_vector() -> None:
    assert sign(SPEC_SECRET, SPEC_ID, SPEC_TS, SPEC_BODY) == SPEC_SIG


def test_raw_secret_uses_utf8_bytes() -> None:
    import base64
    import hashlib
    import hmac

    expected = base64.b64encode(
        hmac.new("s3cr€t".encode(), b"id.5.body", hashlib.sha256).digest()
    ).decode()
    assert sign("s3cr€t", "id", 5, b"body") == "v1," + expected
    assert sign("s3cr€t", "id", 5, b"body") != sign("s3cr€t", "id", 6, b"body")


def test_bad_secrets_raise_without_echoing() -> None:
    with pytest.raises(ValueError) as info:
        sign("whsec_not*base64!", "id", 1, b"")
    assert "not*base64" not in str(info.value)
    with pytest.raises(ValueError):
        sign("", "id", 1, b"")


def test_bad_whsec_secret_with_no_key_is_refused() -> None:
    with pytest.raises(ValueError, match="empty"):
        sign("whsec_", "id", 1, b"")


def fresh_headers(secret: str, body: bytes = SPEC_BODY, age_s: int = 0) -> dict[str, str]:
    """Headers as `deliver` sends them, signed `age_s` seconds ago."""
    return webhook_headers(secret, SPEC_ID, body, int(time.time()) - age_s)


def test_a_plain_standard_webhooks_receiver_verifies_what_we_send() -> None:
    # A receiver configured with the whsec_ secret as given, the package's own reading of it.
    assert Webhook(SPEC_SECRET).verify(SPEC_BODY, fresh_headers(SPEC_SECRET)) == {
        "test": 2432232314
    }
    upper = {k.upper(): v for k, v in fresh_headers(SPEC_SECRET).items()}
    Webhook(SPEC_SECRET).verify(SPEC_BODY, upper, json_parse=False)
    # Any other secret is its UTF-8 bytes on both sides.
    Webhook("s3cr€t".encode()).verify(SPEC_BODY, fresh_headers("s3cr€t"), json_parse=False)
    webhook("s3cr€t").verify(SPEC_BODY, fresh_headers("s3cr€t"), json_parse=False)


def test_verify_multiple_signatures() -> None:
    other = sign("whsec_" + "QUJD" * 8, SPEC_ID, SPEC_TS, SPEC_BODY)
    headers = fresh_headers(SPEC_SECRET)
    ours = headers["webhook-signature"]
    rotated = {**headers, "webhook-signature": f"{other} v2,xyz {ours}"}
    webhook(SPEC_SECRET).verify(SPEC_BODY, rotated, json_parse=False)
    wrong_version = {**headers, "webhook-signature": f"{other} v2,{ours[3:]}"}
    with pytest.raises(WebhookVerificationError):
        webhook(SPEC_SECRET).verify(SPEC_BODY, wrong_version, json_parse=False)


def _other_secret() -> tuple[str, dict[str, str], bytes]:
    return "whsec_" + "QUJD" * 8, fresh_headers(SPEC_SECRET), SPEC_BODY


def _other_body() -> tuple[str, dict[str, str], bytes]:
    return SPEC_SECRET, fresh_headers(SPEC_SECRET), b'{"test": 2432232315}'


def _other_id() -> tuple[str, dict[str, str], bytes]:
    return SPEC_SECRET, {**fresh_headers(SPEC_SECRET), "webhook-id": "msg_other"}, SPEC_BODY


def _too_old() -> tuple[str, dict[str, str], bytes]:
    return SPEC_SECRET, fresh_headers(SPEC_SECRET, age_s=400), SPEC_BODY


def _too_new() -> tuple[str, dict[str, str], bytes]:
    return SPEC_SECRET, fresh_headers(SPEC_SECRET, age_s=-400), SPEC_BODY


def _unsigned() -> tuple[str, dict[str, str], bytes]:
    return SPEC_SECRET, {"webhook-id": SPEC_ID, "webhook-timestamp": "1"}, SPEC_BODY


@pytest.mark.parametrize(
    ("case", "message"),
    [
        (_other_secret, "signature"),
        (_other_body, "signature"),
        (_other_id, "signature"),
        (_too_old, "too old"),
        (_too_new, "too new"),
        (_unsigned, "Missing"),
    ],
)
def test_verify_failures(
    case: Callable[[], tuple[str, dict[str, str], bytes]], message: str
) -> None:
    # Headers are made here, not at collection: their timestamps must be fresh.
    secret, headers, body = case()
    with pytest.raises(WebhookVerificationError, match=message):
        webhook(secret).verify(body, headers, json_parse=False)


def test_webhook_headers() -> None:
    signed = webhook_headers(SPEC_SECRET, SPEC_ID, SPEC_BODY, SPEC_TS)
    assert signed == {
        "content-type": "application/json",
        "user-agent": USER_AGENT,
        "webhook-id": SPEC_ID,
        "webhook-timestamp": str(SPEC_TS),
        "webhook-signature": SPEC_SIG,
    }
    unsigned = webhook_headers(None, SPEC_ID, SPEC_BODY, SPEC_TS)
    assert "webhook-signature" not in unsigned
    assert unsigned["webhook-id"] == SPEC_ID


# --- callback body -------------------------------------------------------------------------


def test_callback_body_is_stable_and_compact() -> None:
    body = callback_body(
        "job-1",
        "completed",
        {"b": 1, "a": {"y": 2, "x": [3, 1]}},
        "2026-01-02T03:04:05.000Z",
        1234.6,
        ["step 1", "done ✓"],
    )
    assert (
        body
        == (
            '{"jobId":"job-1","status":"completed","result":{"a":{"x":[3,1],"y":2},"b":1},'
            '"processedAt":"2026-01-02T03:04:05.000Z","duration":1235,"logs":["step 1","done ✓"]}'
        ).encode()
    )
    reordered = callback_body(
        "job-1",
        "completed",
        {"a": {"x": [3, 1], "y": 2}, "b": 1},
        "2026-01-02T03:04:05.000Z",
        1234.6,
        ("step 1", "done ✓"),
    )
    assert reordered == body
    parsed = json.loads(body)
    assert list(parsed) == ["jobId", "status", "result", "processedAt", "duration", "logs"]
    failed = json.loads(callback_body("j", "failed", None, "t", 0, []))
    assert failed["result"] is None and failed["duration"] == 0


def test_parse_retry_after() -> None:
    assert parse_retry_after("7") == 7.0
    assert parse_retry_after(" 1.5 ") == 1.5
    assert parse_retry_after("-3") == 0.0
    assert parse_retry_after(None) is None
    assert parse_retry_after("soon") is None
    now = 1_700_000_000.0
    assert parse_retry_after(formatdate(now + 120, usegmt=True), now=now) == 120.0
    assert parse_retry_after(formatdate(now - 120, usegmt=True), now=now) == 0.0


# --- delivery against a real local server --------------------------------------------------


class Receiver:
    def __init__(self) -> None:
        self.requests: list[tuple[str, dict[str, str], bytes]] = []

    async def handle(self, request: web.Request) -> web.StreamResponse:
        body = await request.read()
        self.requests.append((request.path, dict(request.headers), body))
        name = request.match_info["name"]
        if name == "ok":
            return web.Response(status=204)
        if name == "redirect":
            raise web.HTTPFound("/hook/ok")
        if name == "gone":
            return web.Response(status=410, text="unsubscribed")
        if name == "busy":
            return web.Response(status=429, headers={"Retry-After": "7"}, text="slow down")
        if name == "maintenance":
            when = formatdate(time.time() + 60, usegmt=True)
            return web.Response(status=503, headers={"Retry-After": when})
        if name == "error":
            return web.Response(status=500, text="boom\n" + "x" * 5000)
        if name == "bad":
            return web.Response(status=400, text="bad payload")
        if name == "timeout408":
            return web.Response(status=408)
        if name == "slow":
            await asyncio.sleep(5)
            return web.Response(status=200)
        return web.Response(status=404)


@pytest.fixture
async def receiver() -> AsyncIterator[tuple[str, Receiver]]:
    rec = Receiver()
    app = web.Application()
    app.router.add_post("/hook/{name}", rec.handle)
    runner = web.AppRunner(app, shutdown_timeout=0.1)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    try:
        yield f"http://127.0.0.1:{port}/hook", rec
    finally:
        await runner.cleanup()


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as s:
        yield s


BODY = callback_body("job-9", "completed", {"posts": 3}, "2026-01-01T00:00:00.000Z", 10, [])


async def test_deliver_ok_is_signed_and_verifiable(
    receiver: tuple[str, Receiver], session: aiohttp.ClientSession
) -> None:
    base, rec = receiver
    result = await deliver(session, f"{base}/ok", BODY, msg_id="msg_1", secret=SPEC_SECRET)
    assert result.ok and result.status == 204 and not result.retryable and result.error is None
    _, headers, body = rec.requests[0]
    assert body == BODY
    assert headers["Content-Type"] == "application/json"
    assert headers["User-Agent"] == USER_AGENT
    assert headers["webhook-id"] == "msg_1"
    # The receiver's view checks out with a plain Standard Webhooks receiver.
    assert Webhook(SPEC_SECRET).verify(body, dict(headers)) == json.loads(BODY)


async def test_deliver_unsigned_without_secret(
    receiver: tuple[str, Receiver], session: aiohttp.ClientSession
) -> None:
    base, rec = receiver
    result = await deliver(session, f"{base}/ok", BODY, msg_id="m", secret=None, now=SPEC_TS)
    assert result.ok
    headers = rec.requests[0][1]
    assert "webhook-signature" not in {k.lower() for k in headers}
    assert headers["webhook-timestamp"] == str(SPEC_TS)


async def test_deliver_does_not_follow_redirects(
    receiver: tuple[str, Receiver], session: aiohttp.ClientSession
) -> None:
    base, rec = receiver
    result = await deliver(session, f"{base}/redirect", BODY, msg_id="m", secret=SPEC_SECRET)
    assert (result.ok, result.status, result.retryable) == (False, 302, False)
    assert [p for p, _, _ in rec.requests] == ["/hook/redirect"]  # /hook/ok never hit


@pytest.mark.parametrize(
    ("name", "status", "retryable", "retry_after"),
    [
        ("gone", 410, False, None),
        ("busy", 429, True, 7.0),
        ("error", 500, True, None),
        ("bad", 400, False, None),
        ("timeout408", 408, True, None),
        ("missing", 404, False, None),
    ],
)
async def test_deliver_status_classification(
    receiver: tuple[str, Receiver],
    session: aiohttp.ClientSession,
    name: str,
    status: int,
    retryable: bool,
    retry_after: float | None,
) -> None:
    base, _ = receiver
    result = await deliver(session, f"{base}/{name}", BODY, msg_id="m", secret=SPEC_SECRET)
    assert not result.ok
    assert (result.status, result.retryable, result.retry_after) == (status, retryable, retry_after)
    assert result.error and str(status) in result.error
    assert len(result.error) < 300  # a short snippet of the response, not all of it
    assert "whsec_" not in result.error and "127.0.0.1" not in result.error


async def test_deliver_503_with_http_date(
    receiver: tuple[str, Receiver], session: aiohttp.ClientSession
) -> None:
    base, _ = receiver
    result = await deliver(session, f"{base}/maintenance", BODY, msg_id="m", secret=None)
    assert result.status == 503 and result.retryable
    assert result.retry_after is not None and 50 <= result.retry_after <= 61


async def test_deliver_timeout_is_retryable(
    receiver: tuple[str, Receiver], session: aiohttp.ClientSession
) -> None:
    base, _ = receiver
    loop = asyncio.get_running_loop()
    start = loop.time()
    result = await deliver(
        session, f"{base}/slow", BODY, msg_id="m", secret=SPEC_SECRET, timeout_s=0.3
    )
    assert loop.time() - start < 3
    assert (result.status, result.retryable) == (None, True)
    assert result.error and "timed out" in result.error


async def test_deliver_connection_refused_is_retryable(session: aiohttp.ClientSession) -> None:
    with socket.socket() as s:  # a port that was free a moment ago: nothing listens there
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    result = await deliver(
        session, f"http://127.0.0.1:{port}/x?token=sekrit", BODY, msg_id="m", secret=SPEC_SECRET
    )
    assert (result.status, result.retryable) == (None, True)
    assert result.error and "sekrit" not in result.error


@pytest.mark.parametrize("url", ["not a url", "ftp://example.com/x", "http://"])
async def test_deliver_invalid_url_not_retryable(session: aiohttp.ClientSession, url: str) -> None:
    result = await deliver(session, url, BODY, msg_id="m", secret=None)
    assert (result.ok, result.status, result.retryable) == (False, None, False)
