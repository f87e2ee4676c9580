"""The provider limiter's rules on a fake clock: slow start, the cap the rate-limit headers
set, holds for a spent budget and for 429s, and the share that bounds the window; and the
parsing of OpenAI's `x-ratelimit-*` headers."""

from __future__ import annotations

import asyncio

import pytest

from pressroom.embeddings.limiter import Abandoned, ProviderLimiter
from pressroom.embeddings.ratelimits import parse_duration, parse_rate_limits
from pressroom.embeddings.shares import FixedShare


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def headers(limit: int, remaining: int, reset: str, **tokens: str) -> dict[str, str]:
    out = {
        "x-ratelimit-limit-requests": str(limit),
        "x-ratelimit-remaining-requests": str(remaining),
        "x-ratelimit-reset-requests": reset,
    }
    out.update({f"x-ratelimit-{k.replace('_', '-')}": v for k, v in tokens.items()})
    return out


@pytest.mark.parametrize(
    ("raw", "seconds"),
    [("6m0s", 360.0), ("1.5s", 1.5), ("12ms", 0.012), ("1h2m3s", 3723.0), ("2", 2.0)],
)
def test_reset_durations_as_openai_writes_them(raw: str, seconds: float) -> None:
    assert parse_duration(raw) == pytest.approx(seconds)


def test_unreadable_reset_and_missing_headers() -> None:
    assert parse_duration("soon") is None and parse_duration("5x") is None
    assert parse_rate_limits({}).requests is None
    limits = parse_rate_limits(headers(600, 540, "6s", remaining_tokens="0"))
    assert limits.requests is not None and limits.requests.refill_rate == pytest.approx(10.0)
    assert limits.tokens is not None and limits.tokens.remaining == 0


async def fill(limiter: ProviderLimiter, n: int) -> list[object]:
    """Enter `n` slots (without waiting for their outcome); returns the context managers."""
    slots = []
    for _ in range(n):
        cm = limiter.slot()
        slots.append((cm, await cm.__aenter__()))
    return slots


async def test_slow_start_grows_a_window_in_use_up_to_the_ceiling() -> None:
    clock = Clock()
    limiter = ProviderLimiter(6, clock=clock)
    assert limiter.allowed == 4
    go = asyncio.Event()

    async def request() -> None:
        async with limiter.slot() as slot:
            await go.wait()
            clock.now += 0.1
            slot.ok({})  # a server without rate-limit headers

    tasks = [asyncio.create_task(request()) for _ in range(12)]
    await asyncio.sleep(0.01)
    assert limiter.in_flight == 4  # the rest wait
    go.set()
    await asyncio.gather(*tasks)
    # One more per success while others waited, up to the ceiling.
    assert limiter.window == 6
    clock.now += 5  # the share is renewed: the whole window is usable
    held = await fill(limiter, 6)
    assert limiter.in_flight == limiter.peak == 6 and len(held) == 6


async def test_an_idle_window_does_not_grow() -> None:
    clock = Clock()
    limiter = ProviderLimiter(32, clock=clock)
    for _ in range(10):
        [(cm, slot)] = await fill(limiter, 1)
        slot.ok({})
        await cm.__aexit__(None, None, None)
    assert limiter.window == 4


async def test_headers_cap_the_window_before_any_429() -> None:
    clock = Clock()
    limiter = ProviderLimiter(32, initial=16, clock=clock)
    limiter._share = 16
    slots = await fill(limiter, 16)
    # 10 a second refill (limit 10, 0 left, 1 s to whole), 1 s latency: 10 sustained.
    clock.now += 1.0
    for cm, slot in slots:
        slot.ok(headers(10, 0, "1s"))
        await cm.__aexit__(None, None, None)
    assert 10 <= limiter.window < 16
    # The budget was spent: new requests wait one refill interval (0.1 s).
    assert limiter._held_until == pytest.approx(clock.now + 0.1)


async def test_a_429_halves_once_per_round_trip_and_holds_for_retry_after() -> None:
    clock = Clock()
    limiter = ProviderLimiter(32, initial=8, clock=clock)
    limiter._share = 8
    slots = await fill(limiter, 8)
    for cm, slot in slots[:3]:
        slot.limited(2.5)
        await cm.__aexit__(None, None, None)
    assert limiter.window == 4 and limiter.rate_limited == 3
    assert limiter._held_until == pytest.approx(clock.now + 2.5)
    # Nothing starts during the hold, even with places free.
    with pytest.raises(TimeoutError):
        async with asyncio.timeout(0.05):
            await fill(limiter, 1)
    for cm, _ in slots[3:]:
        await cm.__aexit__(None, None, None)


async def test_the_share_bounds_the_window() -> None:
    clock = Clock()
    limiter = ProviderLimiter(32, initial=32, share=FixedShare(3), clock=clock)
    held = await fill(limiter, 3)
    assert limiter.allowed == 3 and len(held) == 3
    with pytest.raises(TimeoutError):
        async with asyncio.timeout(0.05):
            await fill(limiter, 1)


async def test_a_request_abandoned_while_waiting_sends_nothing() -> None:
    limiter = ProviderLimiter(1, initial=1)
    [(cm, _)] = await fill(limiter, 1)
    stop = asyncio.Event()

    async def second() -> None:
        async with limiter.slot(stop):
            raise AssertionError("entered after the caller gave up")

    task = asyncio.create_task(second())
    await asyncio.sleep(0.01)
    stop.set()
    await cm.__aexit__(None, None, None)
    with pytest.raises(Abandoned):
        await task
    assert limiter.in_flight == 0
