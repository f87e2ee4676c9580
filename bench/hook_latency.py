"""How fast `POST /hooks/{host}` answers (issue 15: within 1 s, so a git host never times out
and retries). Git hosts send one delivery at a time per hook, so requests are sequential.

Its own embedded stack (bench/stack.py: Temporal dev server, Postgres) and the API as a real
process (bench/services.py), no worker: a started build only has to be accepted by Temporal
before the answer, which is what is measured. Cases, each `--requests` deliveries, `--runs`
times (the table shows the median run's figures and every run's p99):

- a push that starts a build (a new delivery each time);
- the same delivery again (a redelivery: the job it started answers);
- a push to another branch (ignored, with the reason);
- a wrong signature (401).

    .venv/bin/python -m bench.hook_latency                 # or: make bench-hooks
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
import uuid
from collections.abc import Callable

import aiohttp

from bench.generate import generate_corpus
from bench.scenarios import Scenario
from bench.services import Services
from bench.stack import bench_stack
from tests.fakes.push_events import push_event

SECRET = "bench-hook-secret-0123456789"  # noqa: S105 - a bench fixture
REPOSITORY = "https://github.com/acme/bench-blog"


def _log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


async def _case(
    http: aiohttp.ClientSession,
    base: str,
    requests: int,
    make: Callable[[int], tuple[dict[str, str], bytes]],
    expect: int,
) -> list[float]:
    latencies = []
    for i in range(requests):
        headers, body = make(i)
        t0 = time.perf_counter()
        async with http.post(f"{base}/hooks/github", data=body, headers=headers) as resp:
            await resp.read()
            if resp.status != expect:
                raise RuntimeError(f"answered {resp.status}, expected {expect}")
        latencies.append((time.perf_counter() - t0) * 1000)
    return latencies


def _p(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return round(ordered[int(q * (len(ordered) - 1))], 1)


async def run(requests: int, runs: int) -> None:
    async with bench_stack() as stack:
        corpus = generate_corpus(stack.root / "corpus", 20)
        async with (
            Services(stack, Scenario("hooks", 20, "local"), {}, worker=False) as services,
            aiohttp.ClientSession() as http,
        ):
            base = services.base
            site = "bench-hooks"
            spec = {"repoUrl": str(corpus), "repository": REPOSITORY, "webhookSecret": SECRET}
            async with http.put(f"{base}/sites/{site}", json=spec) as resp:
                if resp.status not in (200, 201):
                    raise RuntimeError(f"registration answered {resp.status}")
            fixed = str(uuid.uuid4())
            cases: dict[str, tuple[Callable[[int], tuple[dict[str, str], bytes]], int]] = {
                "push that starts a build": (
                    lambda i: push_event("github", secret=SECRET, repository=REPOSITORY),
                    202,
                ),
                "redelivery (no new job)": (
                    lambda i: push_event(
                        "github", secret=SECRET, repository=REPOSITORY, delivery=fixed
                    ),
                    202,
                ),
                "push to another branch (ignored)": (
                    lambda i: push_event(
                        "github", secret=SECRET, repository=REPOSITORY, branch="dev"
                    ),
                    202,
                ),
                "wrong signature (401)": (
                    lambda i: push_event("github", secret="wrong-" + SECRET, repository=REPOSITORY),
                    401,
                ),
            }
            _log(f"{requests} sequential deliveries per case, {runs} runs, API at {base}")
            print("| case | p50 ms | p99 ms | max ms | p99 of each run |")
            print("|---|---:|---:|---:|---|")
            for name, (make, expect) in cases.items():
                results = [await _case(http, base, requests, make, expect) for _ in range(runs)]
                by_p99 = sorted(results, key=lambda r: _p(r, 0.99))
                median = by_p99[len(by_p99) // 2]
                each = ", ".join(str(_p(r, 0.99)) for r in results)
                print(
                    f"| {name} | {round(statistics.median(median), 1)} | {_p(median, 0.99)} | "
                    f"{round(max(median), 1)} | {each} |"
                )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=100)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    asyncio.run(run(args.requests, args.runs))


if __name__ == "__main__":
    main()
