"""Requests in flight to a remote provider: as many as the provider takes, within a ceiling
shared by every worker of a task queue.

Design. Each process keeps one `ProviderLimiter` per provider budget (base URL + model: a
provider's rate limits are per model), wrapped around every HTTP call (embeddings and image
descriptions). It holds a window of requests in flight, like TCP's congestion window:

- it starts at `INITIAL_WINDOW` (4, the old fixed figure) and, in slow start, grows by one
  per successful response (doubling per round trip) while the window is actually in use;
- the provider's `x-ratelimit-*` headers (`ratelimits`) cap it before any 429: the refill
  rate `(limit - remaining) / reset` times the request's latency is what the provider
  sustains, plus whatever unspent burst `remaining` still shows; above that cap the window
  steps down by one per response; a spent budget (`remaining` 0) holds every new request
  for one refill interval; tokens under a tenth of their limit stop growth;
- a 429 halves the window (once per round trip, however many 429s land together), ends slow
  start and holds every new request for the `retry-after` the provider sent (1 s if none).
  The 429 still fails its call: retries stay where errors are classified
  (`openai.map_api_error`, then Temporal's policy);
- after slow start the window grows by 1/window per response (one per round trip).

The window never exceeds this process's share of `PROVIDER_MAX_IN_FLIGHT` (`shares`): the
whole ceiling alone, or a lease in Postgres split among the workers of the task queue.

Measured (bench/vision_rate.py: 435 images, fake provider at 1 s a request allowing 600
requests a minute enforced as 10 a second, one worker, a busy 2-core machine): 48.9 s, no
429, one batch attempt; in flight per second 4, 5, 8, 9, 10, 11, then 10 to the end (peak
11; the provider sustains 10, so the floor is 43.5 s). The old fixed 4 in flight needs
435 / 4 = 109 s whatever the provider allows.

Why not simply pace at the limit the headers state: `limit` is per minute, but providers
enforce it over shorter spans (OpenAI: 600 a minute may mean 10 a second), and servers
without headers must work too; the window reacts to both, and holds no timer per request.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import time
import weakref
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass

from pressroom.embeddings.ratelimits import RateLimits, parse_rate_limits
from pressroom.embeddings.shares import FixedShare, Share

__all__ = [
    "INITIAL_WINDOW",
    "Abandoned",
    "LimiterSpec",
    "ProviderLimiter",
    "Slot",
    "close_limiter",
    "limiter_for",
]

INITIAL_WINDOW = 4
RENEW_SECONDS = 2.0  # how often an active process renews its share
MAX_HOLD_SECONDS = 60.0  # a hold the headers ask for is never longer than this
DEFAULT_RETRY_AFTER = 1.0


class Abandoned(Exception):
    """The caller gave up on a request while it waited for a place (see `slot(unless=)`)."""


class ProviderLimiter:
    """The window of requests in flight to one provider budget, in one process (one loop)."""

    def __init__(
        self,
        ceiling: int,
        *,
        initial: int = INITIAL_WINDOW,
        share: Share | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.ceiling = max(1, ceiling)
        self.window = float(max(1, min(initial, self.ceiling)))
        self.in_flight = 0
        self.peak = 0  # most requests in flight at once
        self.rate_limited = 0  # 429s seen
        self._share_source = share or FixedShare(self.ceiling)
        self._share = int(self.window)
        self._clock = clock
        self._slow_start = True
        self._held_until = 0.0
        self._last_decrease = -math.inf
        self._rtt: float | None = None  # smoothed latency of successful requests
        self._rate: float | None = None  # the provider's last known refill, requests/s
        self._renewed_at = -math.inf
        self._renewing = False
        self._waiters: list[asyncio.Future[None]] = []

    @property
    def allowed(self) -> int:
        """Requests this process may have in flight now."""
        return max(1, min(int(self.window), self._share))

    @contextlib.asynccontextmanager
    async def slot(self, unless: asyncio.Event | None = None) -> AsyncIterator[Slot]:
        """Hold one request's place; report the outcome on the slot (`ok`, `limited`).
        Raises `Abandoned` instead if `unless` is set by the time a place is free."""
        await self._acquire()
        if unless is not None and unless.is_set():
            self.in_flight -= 1
            self._wake()
            raise Abandoned("abandoned while waiting for the provider")
        slot = Slot(self, self._clock())
        try:
            yield slot
        finally:
            self.in_flight -= 1
            self._wake()

    async def aclose(self) -> None:
        await self._share_source.aclose()

    # --- admission ---------------------------------------------------------------------

    async def _acquire(self) -> None:
        while True:
            await self._renew_share()
            now = self._clock()
            if now < self._held_until:
                await self._wait(self._held_until - now)
                continue
            if self.in_flight < self.allowed:
                self.in_flight += 1
                self.peak = max(self.peak, self.in_flight)
                return
            await self._wait(RENEW_SECONDS)

    async def _renew_share(self) -> None:
        if self._renewing or self._clock() - self._renewed_at < RENEW_SECONDS:
            return
        self._renewing = True
        try:
            want = min(self.ceiling, int(self.window) + 1)
            self._share = await self._share_source.share(want)
            self._renewed_at = self._clock()
        finally:
            self._renewing = False
        self._wake()

    async def _wait(self, seconds: float) -> None:
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiters.append(waiter)
        try:
            await asyncio.wait_for(waiter, seconds)
        except TimeoutError:
            pass
        finally:
            if waiter in self._waiters:
                self._waiters.remove(waiter)

    def _wake(self) -> None:
        """Wake the oldest waiters, one per free place (all of them to re-check a hold)."""
        free = self.allowed - self.in_flight
        while self._waiters and free > 0:
            waiter = self._waiters.pop(0)
            if not waiter.done():
                waiter.set_result(None)
                free -= 1

    # --- feedback ------------------------------------------------------------------------

    def _succeeded(self, limits: RateLimits, latency: float) -> None:
        self._rtt = latency if self._rtt is None else 0.8 * self._rtt + 0.2 * latency
        now = self._clock()
        cap = self._header_cap(limits, latency)
        self._hold_if_spent(limits, now)
        tokens_low = limits.tokens is not None and limits.tokens.low
        if cap is not None and self.window > cap:
            self.window = max(1.0, cap, self.window - 1)
            self._slow_start = False
        elif (cap is not None and self.window + 1 > cap) or tokens_low:
            self._slow_start = False
        elif self.in_flight + len(self._waiters) >= self.allowed:  # only a window in use grows
            self.window += 1 if self._slow_start else 1 / self.window
        self.window = min(self.window, float(self.ceiling))
        self._wake()

    def _header_cap(self, limits: RateLimits, latency: float) -> float | None:
        """The window the request budget sustains: refill rate * latency + unspent burst."""
        budget = limits.requests
        if budget is None:
            return None
        self._rate = budget.refill_rate or self._rate
        others = self.in_flight - 1  # this request is still counted
        if self._rate is None:
            return None if budget.remaining > others else float(max(1, others))
        return self._rate * latency + max(0, budget.remaining - others)

    def _hold_if_spent(self, limits: RateLimits, now: float) -> None:
        hold = 0.0
        requests, tokens = limits.requests, limits.tokens
        if requests is not None and requests.remaining == 0:
            hold = 1 / self._rate if self._rate else (requests.reset or DEFAULT_RETRY_AFTER)
        if tokens is not None and tokens.remaining == 0:
            hold = max(hold, tokens.reset or DEFAULT_RETRY_AFTER)
        if hold > 0:
            self._held_until = max(self._held_until, now + min(hold, MAX_HOLD_SECONDS))

    def _limited(self, retry_after: float | None) -> None:
        self.rate_limited += 1
        now = self._clock()
        # 429s that land together answer one overshoot: halve once per round trip.
        if now - self._last_decrease >= (self._rtt or DEFAULT_RETRY_AFTER):
            self.window = max(1.0, self.window / 2)
            self._last_decrease = now
        self._slow_start = False
        wait = DEFAULT_RETRY_AFTER if retry_after is None else retry_after
        self._held_until = max(self._held_until, now + min(wait, MAX_HOLD_SECONDS))


@dataclass
class Slot:
    """One request's place in the window; the caller reports how the request went."""

    limiter: ProviderLimiter
    started: float

    def ok(self, headers: Mapping[str, str] | None) -> None:
        """The request succeeded; `headers` are the response's (rate-limit headers, if any)."""
        self.limiter._succeeded(parse_rate_limits(headers), self.limiter._clock() - self.started)

    def limited(self, retry_after: float | None) -> None:
        """The provider answered 429 (rate limited), asking to wait `retry_after` seconds."""
        self.limiter._limited(retry_after)


@dataclass(frozen=True)
class LimiterSpec:
    """How to build a provider budget's limiter: held by a provider client, made per loop."""

    key: str  # the budget: task queue, base URL and model
    ceiling: int
    share: Callable[[], Share] | None = None  # None: the whole ceiling for this process
    initial: int = INITIAL_WINDOW


# An asyncio future must not cross event loops (tests run workers on several): one limiter
# per budget key per loop, dropped with its loop.
_limiters: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[str, ProviderLimiter]] = (
    weakref.WeakKeyDictionary()
)


def limiter_for(spec: LimiterSpec) -> ProviderLimiter:
    """The running loop's limiter for `spec.key` (made on first use)."""
    per_loop = _limiters.setdefault(asyncio.get_running_loop(), {})
    limiter = per_loop.get(spec.key)
    if limiter is None:
        limiter = per_loop[spec.key] = ProviderLimiter(
            spec.ceiling,
            initial=spec.initial,
            share=spec.share() if spec.share else None,
        )
    return limiter


async def close_limiter(spec: LimiterSpec) -> None:
    """Release the running loop's limiter for `spec.key` (its lease), if one was made."""
    per_loop = _limiters.get(asyncio.get_running_loop(), {})
    limiter = per_loop.pop(spec.key, None)
    if limiter is not None:
        await limiter.aclose()
