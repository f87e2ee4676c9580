"""Job callbacks: the body, Standard Webhooks signing/verification, and one delivery attempt.

Signing follows https://www.standardwebhooks.com/: HMAC-SHA256 over
`"{webhook-id}.{webhook-timestamp}.{body}"`, sent as `webhook-signature: v1,<base64>`.
A secret is either `whsec_<base64 key>` (the spec's format: the key is the decoded bytes) or
any other string, whose UTF-8 bytes are the key.

`deliver` makes exactly one attempt and classifies the outcome; retrying with backoff is the
caller's job (a Temporal retry policy), and every retry must send the same `msg_id` and the
same body bytes so the receiver can deduplicate. Nothing here puts the secret, the URL (which
may carry a token) or signed headers into an error message.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any

import aiohttp

USER_AGENT = "pressroom-webhooks/1"
SECRET_PREFIX = "whsec_"  # noqa: S105 - the spec's key format marker, not a secret
DEFAULT_TOLERANCE_S = 300

# 4xx statuses that describe a temporary state of the receiver rather than a bad request.
_RETRYABLE_4XX = frozenset({408, 409, 425, 429})
_RETRY_AFTER_STATUSES = frozenset({429, 503})
_ERROR_SNIPPET = 200


class WebhookVerificationError(Exception):
    """A webhook's headers or signature did not check out."""


@dataclass(frozen=True, slots=True)
class DeliveryResult:
    """The outcome of one delivery attempt. `status` is None when no response arrived."""

    status: int | None
    retryable: bool
    retry_after: float | None = None  # seconds, from the receiver's Retry-After
    error: str | None = None  # None exactly when the receiver accepted the webhook (2xx)

    @property
    def ok(self) -> bool:
        return self.error is None


def _key(secret: str) -> bytes:
    if not secret:
        raise ValueError("webhook secret is empty")
    if secret.startswith(SECRET_PREFIX):
        try:
            return base64.b64decode(secret[len(SECRET_PREFIX) :], validate=True)
        except binascii.Error:
            raise ValueError("webhook secret has the whsec_ prefix but is not base64") from None
    return secret.encode("utf-8")


def _signature(key: bytes, msg_id: str, timestamp: int, body: bytes) -> str:
    signed = f"{msg_id}.{timestamp}.".encode() + body
    return base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode("ascii")


def sign(secret: str, msg_id: str, timestamp: int, body: bytes) -> str:
    """The `webhook-signature` value: `v1,<base64 HMAC-SHA256 of "id.timestamp.body">`."""
    return "v1," + _signature(_key(secret), msg_id, timestamp, body)


def verify(
    secret: str,
    headers: Mapping[str, str],
    body: bytes,
    tolerance_s: int = DEFAULT_TOLERANCE_S,
    now: int | None = None,
) -> None:
    """Check a received webhook; raise `WebhookVerificationError` if it does not verify.

    Header names are case-insensitive. The timestamp must be within `tolerance_s` of `now`
    (either way: replayed or from a skewed clock). `webhook-signature` may hold several
    space-separated signatures (during a secret rotation); one valid `v1` is enough.
    """
    lower = {k.lower(): v for k, v in headers.items()}
    msg_id = lower.get("webhook-id")
    ts_raw = lower.get("webhook-timestamp")
    sig_header = lower.get("webhook-signature")
    if not msg_id or not ts_raw or not sig_header:
        raise WebhookVerificationError("missing webhook-id, webhook-timestamp or signature")
    try:
        timestamp = int(ts_raw)
    except ValueError:
        raise WebhookVerificationError("webhook-timestamp is not an integer") from None
    current = int(time.time()) if now is None else now
    if timestamp < current - tolerance_s:
        raise WebhookVerificationError("webhook-timestamp is too old")
    if timestamp > current + tolerance_s:
        raise WebhookVerificationError("webhook-timestamp is too far in the future")
    expected = _signature(_key(secret), msg_id, timestamp, body).encode("ascii")
    matched = False
    for candidate in sig_header.split():
        version, _, value = candidate.partition(",")
        if version != "v1":
            continue
        # Keep comparing after a match: the time taken must not depend on which one matched.
        matched |= hmac.compare_digest(value.encode("utf-8", "replace"), expected)
    if not matched:
        raise WebhookVerificationError("no matching signature")


def webhook_headers(secret: str | None, msg_id: str, body: bytes, now: int) -> dict[str, str]:
    """Request headers for one attempt; signed only when a secret is configured."""
    headers = {
        "content-type": "application/json",
        "user-agent": USER_AGENT,
        "webhook-id": msg_id,
        "webhook-timestamp": str(now),
    }
    if secret:
        headers["webhook-signature"] = sign(secret, msg_id, now, body)
    return headers


def parse_retry_after(value: str | None, now: float | None = None) -> float | None:
    """Seconds to wait from a Retry-After header (delta-seconds or an HTTP date); None if
    absent or unparseable. A date in the past means 0."""
    if not value:
        return None
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = parsedate_to_datetime(value)
        except (TypeError, ValueError, IndexError):
            return None
        if when.tzinfo is None:  # RFC 9110 dates are GMT
            when = when.replace(tzinfo=UTC)
        current = time.time() if now is None else now
        return max(0.0, when.timestamp() - current)
    return max(0.0, seconds) if seconds == seconds else None  # NaN is not a delay


def _snippet(raw: bytes) -> str:
    text = " ".join(raw.decode("utf-8", "replace").split())
    return text[:_ERROR_SNIPPET]


def _classify(status: int, retry_after: float | None, snippet: str) -> DeliveryResult:
    detail = f": {snippet}" if snippet else ""
    if 200 <= status < 300:
        return DeliveryResult(status, retryable=False)
    if 300 <= status < 400:
        # A callback URL that redirects is misconfigured; following it could leak the
        # signed body to another host, and repeating the request will not change the answer.
        return DeliveryResult(status, False, None, f"HTTP {status}: redirect not followed")
    if status == 410:
        return DeliveryResult(status, False, None, f"HTTP 410: receiver gone{detail}")
    if status in _RETRYABLE_4XX or status >= 500:
        return DeliveryResult(status, True, retry_after, f"HTTP {status}{detail}")
    return DeliveryResult(status, False, None, f"HTTP {status}{detail}")


async def deliver(
    session: aiohttp.ClientSession,
    url: str,
    body: bytes,
    *,
    msg_id: str,
    secret: str | None,
    timeout_s: float = 20,
    now: int | None = None,
) -> DeliveryResult:
    """POST `body` to `url` once. Never raises for HTTP or network outcomes.

    2xx: delivered. 3xx (not followed), 410 and other 4xx: failed for good. 408, 409, 425,
    429, 5xx, timeouts and network errors: worth retrying; 429/503 carry Retry-After.
    A URL aiohttp cannot use is reported as a non-retryable failure.
    """
    timestamp = int(time.time()) if now is None else now
    headers = webhook_headers(secret, msg_id, body, timestamp)
    try:
        async with session.post(
            url,
            data=body,
            headers=headers,
            allow_redirects=False,
            timeout=aiohttp.ClientTimeout(total=timeout_s),
        ) as resp:
            retry_after = None
            if resp.status in _RETRY_AFTER_STATUSES:
                retry_after = parse_retry_after(resp.headers.get("Retry-After"))
            snippet = ""
            if not 200 <= resp.status < 300:
                snippet = _snippet(await resp.content.read(_ERROR_SNIPPET * 4))
            return _classify(resp.status, retry_after, snippet)
    except (aiohttp.InvalidURL, aiohttp.NonHttpUrlClientError, ValueError) as exc:
        # These subclass ClientError, so they must be caught first: a bad URL never heals.
        return DeliveryResult(None, False, None, f"invalid callback URL ({type(exc).__name__})")
    except TimeoutError:  # asyncio.TimeoutError is the same class since 3.11
        return DeliveryResult(None, True, None, f"timed out after {timeout_s:g}s")
    except aiohttp.ClientConnectorError as exc:
        reason = exc.os_error.strerror or type(exc.os_error).__name__
        return DeliveryResult(None, True, None, f"cannot connect: {reason}")
    except (aiohttp.ClientError, OSError) as exc:
        return DeliveryResult(None, True, None, f"network error: {type(exc).__name__}")


def callback_body(
    job_id: str,
    status: str,
    result: Mapping[str, Any] | None,
    processed_at: str,
    duration_ms: int | float,
    logs: Sequence[str],
) -> bytes:
    """The callback JSON, compact, keys in the contract's order (jobId, status, result,
    processedAt, duration, logs) and nested keys sorted: the same inputs always give the same
    bytes, so the signature and a receiver's deduplication are stable across retries."""

    def enc(value: Any, *, sort: bool = False) -> str:
        return json.dumps(
            value, ensure_ascii=False, separators=(",", ":"), sort_keys=sort, allow_nan=False
        )

    parts = [
        f'"jobId":{enc(job_id)}',
        f'"status":{enc(status)}',
        f'"result":{enc(dict(result) if result is not None else None, sort=True)}',
        f'"processedAt":{enc(processed_at)}',
        f'"duration":{round(duration_ms)}',
        f'"logs":{enc(list(logs))}',
    ]
    return ("{" + ",".join(parts) + "}").encode("utf-8")


def utc_now_iso() -> str:
    """`processedAt` format: UTC, millisecond precision, `Z` suffix."""
    now = datetime.now(UTC)
    return now.strftime("%Y-%m-%dT%H:%M:%S.") + f"{now.microsecond // 1000:03d}Z"
