"""Job callbacks: the body, Standard Webhooks signing, one delivery attempt, and the wait
before the next attempt.

Signing follows https://www.standardwebhooks.com/ through the `standardwebhooks` package:
HMAC-SHA256 over `"{webhook-id}.{webhook-timestamp}.{body}"`, sent as
`webhook-signature: v1,<base64>`. A secret is either `whsec_<base64 key>` (the spec's format:
the key is the decoded bytes) or any other string, whose UTF-8 bytes are the key. A receiver
verifies with `webhook(secret).verify(body, headers)`.

`deliver` makes exactly one attempt and classifies the outcome; retrying is the caller's job
(a Temporal retry policy), and every retry must send the same `msg_id` and the same body
bytes so the receiver can deduplicate. Nothing here puts the secret, the URL (which may carry
a token) or signed headers into an error message.

`retry_delay` is the wait after a failed attempt: exponential backoff with "equal jitter"
(attempt n waits `min(cap, initial * 2**(n-1))` scaled by a random factor in [0.5, 1)), so
receivers that come back after an outage are not hit by every pending job in the same
second; a receiver's Retry-After wins. Temporal's schedule-to-close timeout on the callback
activity (workflows/plans.py) bounds the whole schedule.
"""

from __future__ import annotations

import base64
import binascii
import json
import random
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any

import aiohttp
from standardwebhooks import Webhook

__all__ = [
    "DeliveryResult",
    "callback_body",
    "deliver",
    "parse_retry_after",
    "retry_delay",
    "sign",
    "webhook",
    "webhook_headers",
]

USER_AGENT = "pressroom-webhooks/1"
SECRET_PREFIX = "whsec_"  # noqa: S105 - the spec's key format marker, not a secret

# 4xx statuses that describe a temporary state of the receiver rather than a bad request.
_RETRYABLE_4XX = frozenset({408, 409, 425, 429})
_RETRY_AFTER_STATUSES = frozenset({429, 503})
_ERROR_SNIPPET = 200


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


def webhook(secret: str) -> Webhook:
    """The Standard Webhooks signer and verifier for `secret`; ValueError (never echoing the
    secret) for an empty one or a `whsec_` one that is not base64."""
    if not secret:
        raise ValueError("webhook secret is empty")
    if secret.startswith(SECRET_PREFIX):
        try:
            key = base64.b64decode(secret[len(SECRET_PREFIX) :], validate=True)
        except binascii.Error:
            raise ValueError("webhook secret has the whsec_ prefix but is not base64") from None
        if not key:
            raise ValueError("webhook secret is empty")
    else:
        # The package reads every str secret as base64; ours is the UTF-8 bytes of a secret
        # without the whsec_ prefix (our wire format from the start), so it gets bytes.
        key = secret.encode("utf-8")
    return Webhook(key)


def sign(secret: str, msg_id: str, timestamp: int, body: bytes) -> str:
    """The `webhook-signature` value: `v1,<base64 HMAC-SHA256 of "id.timestamp.body">`.

    `body` is UTF-8 (`callback_body` makes it so): the package signs text."""
    when = datetime.fromtimestamp(timestamp, tz=UTC)
    return webhook(secret).sign(msg_id, when, body.decode("utf-8"))


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


_rng = random.SystemRandom()


def retry_delay(
    attempt: int,
    retry_after: float | None = None,
    *,
    initial_s: float,
    max_s: float,
    rng: random.Random = _rng,
) -> float:
    """Seconds to wait after failed attempt `attempt` (1-based); Retry-After (if positive) wins.

    `initial_s` and `max_s` are the schedule's bounds, declared once with the callback's retry
    policy (`pressroom.workflows.plans`): the activity passes them in."""
    if retry_after is not None and retry_after > 0:
        return retry_after
    base = min(max_s, initial_s * 2 ** max(0, attempt - 1))
    return base * (0.5 + rng.random() / 2)
