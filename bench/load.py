"""A bounded HTTP load generator for the API on loopback (aiohttp, closed loop).

`concurrency` clients each send their next request as soon as the previous one answers,
until `total` requests are done. Reports throughput and latency percentiles per case.
"""

from __future__ import annotations

import asyncio
import statistics
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import aiohttp

# (method, url, json body or None) for the i-th request of a case
RequestFor = Callable[[int], tuple[str, str, dict[str, Any] | None]]


@dataclass
class LoadResult:
    case: str
    requests: int
    concurrency: int
    seconds: float
    throughput_rps: float
    p50_ms: float
    p90_ms: float
    p99_ms: float
    max_ms: float
    statuses: dict[str, int] = field(default_factory=dict)


def _pct(sorted_ms: list[float], q: float) -> float:
    if not sorted_ms:
        return 0.0
    k = min(len(sorted_ms) - 1, max(0, round(q * (len(sorted_ms) - 1))))
    return round(sorted_ms[k], 2)


async def run_load(
    case: str, request_for: RequestFor, *, total: int, concurrency: int
) -> LoadResult:
    latencies: list[float] = []
    statuses: Counter[str] = Counter()
    counter = iter(range(total))
    connector = aiohttp.TCPConnector(limit=concurrency, force_close=False)
    async with aiohttp.ClientSession(connector=connector) as http:

        async def client() -> None:
            for i in counter:
                method, url, body = request_for(i)
                t0 = time.perf_counter()
                try:
                    async with http.request(method, url, json=body) as resp:
                        await resp.read()
                        statuses[str(resp.status)] += 1
                except aiohttp.ClientError as exc:
                    statuses[type(exc).__name__] += 1
                latencies.append((time.perf_counter() - t0) * 1000)

        start = time.perf_counter()
        await asyncio.gather(*(client() for _ in range(concurrency)))
        seconds = time.perf_counter() - start
    ordered = sorted(latencies)
    return LoadResult(
        case=case,
        requests=total,
        concurrency=concurrency,
        seconds=round(seconds, 3),
        throughput_rps=round(total / seconds, 1) if seconds else 0.0,
        p50_ms=round(statistics.median(ordered), 2) if ordered else 0.0,
        p90_ms=_pct(ordered, 0.90),
        p99_ms=_pct(ordered, 0.99),
        max_ms=round(ordered[-1], 2) if ordered else 0.0,
        statuses=dict(statuses),
    )
