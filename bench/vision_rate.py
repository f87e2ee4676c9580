"""Image descriptions against a rate-limited provider: issue 12's done-when 7.

435 distinct images in one embed-images batch (one worker: the embed step, the describer and
its limiter, a description cache a retry reuses), against the fake OpenAI server answering
each description after 1 s and allowing 600 requests a minute, enforced as 10 a second with
`x-ratelimit-*` headers and 429 + retry-after. Reports the wall time, the batch attempts
(a 429 fails the batch: Temporal's retry is modelled after the provider's retry-after), the
429s, the peak of requests in flight and requests in flight per second.

    .venv/bin/python -m bench.vision_rate                   # the full figure
    .venv/bin/python -m bench.vision_rate --images 60 --latency 0.5 --rpm 1200 --ceiling 4
"""

from __future__ import annotations

import argparse
import asyncio
import json
import tempfile
import time
from pathlib import Path

from tests.fakes.openai_server import FakeOpenAI
from tests.fakes.vision_batch import describe_batch


def per_second(log: list[tuple[float, int]], start: float, end: float) -> list[int]:
    """The most requests in flight during each second of the run."""
    peaks = [0] * (int(end - start) + 1)
    for at, n in log:
        if start <= at <= end:
            i = int(at - start)
            peaks[i] = max(peaks[i], n)
    return peaks


async def run(images: int, latency: float, rpm: int, ceiling: int) -> dict[str, object]:
    async with FakeOpenAI.running() as server:
        server.latency = latency
        server.requests_per_minute(rpm, endpoint="chat")
        with tempfile.TemporaryDirectory(prefix="pressroom-vision-rate-") as tmp:
            start = time.monotonic()
            summary, attempts = await describe_batch(
                server, Path(tmp), images, ceiling=ceiling, attempts=20
            )
            end = time.monotonic()
        return {
            "images": images,
            "latencyS": latency,
            "requestsPerMinute": rpm,
            "ceiling": ceiling,
            "completed": summary is not None,
            "wallS": round(end - start, 1),
            "batchAttempts": attempts,
            "requests": len(server.chat_requests()),
            "rateLimited429": len(server.chat_requests(status=429)),
            "peakInFlight": server.peak_in_flight,
            "inFlightPerSecond": per_second(server.in_flight_log, start, end),
        }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=435)
    parser.add_argument("--latency", type=float, default=1.0, help="seconds per request")
    parser.add_argument("--rpm", type=int, default=600, help="requests a minute allowed")
    parser.add_argument("--ceiling", type=int, default=32, help="PROVIDER_MAX_IN_FLIGHT")
    args = parser.parse_args()
    print(json.dumps(asyncio.run(run(args.images, args.latency, args.rpm, args.ceiling))))


if __name__ == "__main__":
    main()
