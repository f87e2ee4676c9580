"""The API under load: `POST /process` (idempotent re-posts and new jobs), `GET /search` and
`GET /jobs/{id}`, through bench/load.py's closed-loop generator on loopback."""

from __future__ import annotations

import random
import uuid
from pathlib import Path
from typing import Any

import aiohttp

from bench.load import LoadResult, run_load
from bench.scenarios import SEED, Scenario
from bench.services import Services, post_job
from bench.stack import Stack


async def api_load(
    stack: Stack,
    services: Services,
    http: aiohttp.ClientSession,
    corpus: Path,
    posts: int,
    site: str,
    done_job: str,
    total: int,
    log: Any,
) -> tuple[list[LoadResult], float]:
    """POST /process (re-posts and new jobs) and GET /search (or GET /jobs/{id}) under load.

    A second API process serves the load, on a task queue no worker polls: new jobs are
    accepted and wait there, so the load measures the API and Temporal, not a flood of jobs
    competing with it for the CPU. Its peak RSS is reported too.
    """
    # No worker polls this API's task queue (a fresh name): new jobs wait there.
    idle = Services(stack, Scenario(f"{services.scenario.name}-load", 0, "local"), {}, worker=False)
    results: list[LoadResult] = []
    async with idle:
        assert idle.api
        idle.api.rss.reset()
        existing = {
            "jobId": f"bench-load-{uuid.uuid4().hex[:8]}",
            "task": "parse-only",
            "data": {"repoUrl": str(corpus), "site": site},  # published under {site}/
        }
        await post_job(http, idle.base, existing)
        run_id = uuid.uuid4().hex[:8]

        def repost(i: int) -> tuple[str, str, dict[str, Any] | None]:
            return "POST", f"{idle.base}/process", existing

        def new_job(i: int) -> tuple[str, str, dict[str, Any] | None]:
            body = {**existing, "jobId": f"bench-new-{run_id}-{i}"}
            return "POST", f"{idle.base}/process", body

        concurrency = 16
        results.append(
            await run_load("POST /process (re-post)", repost, total=total, concurrency=concurrency)
        )
        results.append(
            await run_load("POST /process (new job)", new_job, total=total, concurrency=concurrency)
        )
        search_url = f"{idle.base}/search?site={site}&q=river+stone+latency&limit=10"
        async with http.get(search_url) as resp:
            has_search = resp.status != 404
        if has_search:
            rng = random.Random(SEED)
            # The generated posts share a 70-word vocabulary: any of its words matches most
            # sections (a worst case for full-text ranking). A post's number (its title ends
            # with it) matches that one post: what a specific query does.
            broad = ["river stone", "database cache", "glacier harbor", "workflow retry"]
            numbers = [str(rng.randrange(max(1, posts))) for _ in range(64)]

            def selective(i: int) -> tuple[str, str, dict[str, Any] | None]:
                q = numbers[i % len(numbers)]
                return "GET", f"{idle.base}/search?site={site}&q={q}&limit=10", None

            def common(i: int) -> tuple[str, str, dict[str, Any] | None]:
                q = broad[i % len(broad)].replace(" ", "+")
                return "GET", f"{idle.base}/search?site={site}&q={q}&limit=10", None

            # One client shows a query's latency; eight show throughput (and queueing).
            cases = (
                ("GET /search (selective, 1 client)", selective, total, 1),
                ("GET /search (selective, 8 clients)", selective, total, 8),
                ("GET /search (broad, 1 client)", common, max(1, total // 10), 1),
            )
            for case, request_for, count, clients in cases:
                results.append(await run_load(case, request_for, total=count, concurrency=clients))
        else:
            log("  GET /search is not there (404)")
        job_url = f"{idle.base}/jobs/{done_job}"

        def job(i: int) -> tuple[str, str, dict[str, Any] | None]:
            return "GET", job_url, None

        # A job's status is a workflow query (a worker replays the history): fewer requests.
        results.append(
            await run_load("GET /jobs/{id}", job, total=max(1, total // 4), concurrency=8)
        )
        await idle.api.rss.stop()
        api_peak = idle.api.rss.peak_mb
    for r in results:
        log(f"  load {r.case}: {r.throughput_rps} req/s, p50 {r.p50_ms} ms, p99 {r.p99_ms} ms")
    return results, api_peak
