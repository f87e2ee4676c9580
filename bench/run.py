"""`make bench`: Pressroom end to end through the API and a real worker process, per scenario,
beside the floor (bench/floor.py) on the same corpus and database.

For each scenario it generates a seeded corpus, starts a worker and an API process on its own
Temporal dev server and Postgres, warms the worker up on a tiny job, then alternates floor and
Pressroom runs (the database emptied before each, so both start from the same state) and
reports medians. The API-latency scenarios point the worker's OpenAI-compatible embedder at
bench/latency_server.py. Finally a bounded load test hits the API on loopback.

    .venv/bin/python -m bench.run                        # every default scenario
    .venv/bin/python -m bench.run --scenarios local-100  # what `make bench-smoke` runs

Everything (corpora, Postgres, Temporal's SQLite file, the worker's scratch directories)
lives in one directory under $TMPDIR, removed at the end. Results:
bench/results/bench-<utc>.json and .md (and latest.json / latest.md).
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import json
import statistics
import sys
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import web

from bench import report
from bench.generate import generate_corpus
from bench.history import history_stats
from bench.latency_server import LatencyServer
from bench.load import LoadResult, run_load
from bench.stack import (
    Proc,
    Stack,
    bench_stack,
    free_port,
    reset_database,
    service_env,
    spawn,
    stop,
    tail,
    wait_healthy,
)

REPO_ROOT = Path(__file__).resolve().parent.parent
RESULTS = REPO_ROOT / "bench" / "results"
SEED = 11


@dataclass(frozen=True)
class Scenario:
    name: str
    posts: int
    embedder: str  # "local" (hashing) | "api" (OpenAI-compatible latency server)
    latency_ms: int = 0
    tokens_per_minute: int = 0
    descriptions: bool = False  # also describe images with the vision model (chat requests)


SCENARIOS: dict[str, Scenario] = {
    s.name: s
    for s in (
        Scenario("local-100", 100, "local"),
        Scenario("local-1000", 1000, "local"),
        Scenario("local-10000", 10_000, "local"),
        Scenario("api-100", 100, "api", latency_ms=300, tokens_per_minute=1_000_000),
        Scenario("api-1000", 1000, "api", latency_ms=300, tokens_per_minute=1_000_000),
        Scenario("api-10000", 10_000, "api", latency_ms=300, tokens_per_minute=1_000_000),
        Scenario("api-100-vision", 100, "api", 300, tokens_per_minute=1_000_000, descriptions=True),
    )
}
DEFAULT = ("local-100", "local-1000", "local-10000", "api-100", "api-1000")


@dataclass
class RunResult:
    wall_s: float
    workflow_ms: int
    status: str
    steps: dict[str, float]
    history_events: int
    history_bytes: int
    largest_payload: int
    embedding_requests: int
    embedding_inputs: int
    embedding_computed: int
    rows_loaded: int
    artifact_bytes: int
    counts: dict[str, int]
    rate_limited: int = 0
    chat_requests: int = 0
    job_id: str = ""
    step_peak_rss_mb: dict[str, float] = field(default_factory=dict)


@dataclass
class ScenarioResult:
    scenario: str
    posts: int
    embedder: str
    latency_ms: int
    tokens_per_minute: int
    runs: int
    wall_s: float
    wall_s_runs: list[float]
    workflow_ms: int
    floor_s: float
    floor_s_runs: list[float]
    ratio_to_floor: float
    steps: dict[str, float]
    floor_phases: dict[str, float]
    step_peak_rss_mb: dict[str, float]
    embedding_requests: int
    embedding_inputs: int
    embedding_computed: int
    worker_peak_rss_mb: float
    worker_main_hwm_mb: float
    api_peak_rss_mb: float
    floor_peak_rss_mb: float
    history_events: int
    history_bytes: int
    largest_payload: int
    rows_loaded: int
    artifact_bytes: int
    counts: dict[str, int]
    rate_limited: int = 0
    vision_requests: int = 0
    load: list[dict[str, Any]] = field(default_factory=list)
    load_api_peak_rss_mb: float = 0.0
    run_details: list[dict[str, Any]] = field(default_factory=list)
    # One more run, for a second site, into the indexes the first site's revision left.
    second_site_wall_s: float | None = None
    second_site_steps: dict[str, float] = field(default_factory=dict)


# --- callbacks -------------------------------------------------------------------------


class Callbacks:
    """A loopback receiver: the job is done for the client when its callback arrives."""

    def __init__(self) -> None:
        self.waiting: dict[str, asyncio.Future[tuple[float, dict[str, Any]]]] = {}
        self.url = ""

    def expect(self, job_id: str) -> asyncio.Future[tuple[float, dict[str, Any]]]:
        fut = asyncio.get_running_loop().create_future()
        self.waiting[job_id] = fut
        return fut

    async def _handle(self, request: web.Request) -> web.Response:
        arrived = time.perf_counter()
        body = await request.json()
        fut = self.waiting.pop(request.match_info["job_id"], None)
        if fut is not None and not fut.done():
            fut.set_result((arrived, body))
        return web.Response(status=204)

    @asynccontextmanager
    async def running(self) -> AsyncIterator[Callbacks]:
        app = web.Application(client_max_size=16 * 1024 * 1024)
        app.router.add_post("/cb/{job_id}", self._handle)
        runner = web.AppRunner(app, handle_signals=False)
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", 0).start()
        self.url = f"http://127.0.0.1:{runner.addresses[0][1]}/cb"
        try:
            yield self
        finally:
            await runner.cleanup()


# --- one scenario ------------------------------------------------------------------------


def _median(values: list[float]) -> float:
    return round(statistics.median(values), 3) if values else 0.0


def _embedder_env(scenario: Scenario, server: LatencyServer | None) -> dict[str, str]:
    if scenario.embedder == "local" or server is None:
        return {"EMBEDDING_PROVIDER": "hashing"}
    return {
        "EMBEDDING_PROVIDER": "openai",
        "EMBEDDING_MODEL": "text-embedding-3-small",
        "EMBEDDING_DIMENSIONS": "384",
        "OPENAI_BASE_URL": server.base_url,
        "OPENAI_API_KEY": "bench-key",
        "IMAGE_DESCRIPTIONS": "true" if scenario.descriptions else "false",
    }


class Services:
    """The worker and API processes of one scenario."""

    def __init__(
        self, stack: Stack, scenario: Scenario, env: dict[str, str], *, worker: bool = True
    ) -> None:
        self.stack, self.scenario, self.with_worker = stack, scenario, worker
        self.queue = f"bench-{scenario.name}-{uuid.uuid4().hex[:6]}"
        self.api_port = free_port()
        self.env = service_env(stack, self.queue, {**env, "API_PORT": str(self.api_port)})
        self.base = f"http://127.0.0.1:{self.api_port}"
        self.worker: Proc | None = None
        self.api: Proc | None = None

    async def __aenter__(self) -> Services:
        logs = self.stack.root / "logs"
        logs.mkdir(exist_ok=True)
        if self.with_worker:
            self.worker = spawn(
                "worker", ["-m", "worker"], self.env, logs / f"{self.scenario.name}-worker.log"
            )
        self.api = spawn("api", ["-m", "api"], self.env, logs / f"{self.scenario.name}-api.log")
        await wait_healthy(f"{self.base}/healthz", self.api)
        return self

    async def __aexit__(self, exc_type: object, *exc: object) -> None:
        for proc in (self.api, self.worker):
            if proc is not None:
                await stop(proc)
                if exc_type is not None:  # the logs are deleted with the stack: show them now
                    print(f"--- {proc.name} log ({proc.log}) ends:", file=sys.stderr)
                    for line in tail(proc.log, 40):
                        print(line, file=sys.stderr)


async def _post_job(http: aiohttp.ClientSession, base: str, body: dict[str, Any]) -> dict[str, Any]:
    async with http.post(f"{base}/process", json=body) as resp:
        answer = await resp.json()
        if resp.status != 202:
            raise RuntimeError(f"POST /process answered {resp.status}: {answer}")
        return dict(answer)


def _job_body(corpus: Path, job_id: str, site: str, callback: str) -> dict[str, Any]:
    return {
        "jobId": job_id,
        "task": "process-all",
        "data": {"repoUrl": str(corpus), "distFolder": "dist", "site": site},
        "callbackUrl": f"{callback}/{job_id}",
    }


async def run_pressroom(
    stack: Stack,
    services: Services,
    callbacks: Callbacks,
    http: aiohttp.ClientSession,
    corpus: Path,
    site: str,
    server: LatencyServer | None,
    timeout_s: float,
) -> RunResult:
    job_id = f"bench-{uuid.uuid4().hex[:12]}"
    if server:
        server.reset()
    done = callbacks.expect(job_id)
    start = time.perf_counter()
    await _post_job(http, services.base, _job_body(corpus, job_id, site, callbacks.url))
    handle = stack.client.get_workflow_handle(job_id)
    finished = asyncio.ensure_future(handle.result())
    await asyncio.wait({done, finished}, timeout=timeout_s, return_when=asyncio.FIRST_COMPLETED)
    if not done.done():
        # The workflow ended (or timed out) without calling back: say why, do not hang.
        await asyncio.wait({done}, timeout=10)
    if not done.done():
        finished.cancel()
        outcome = finished.exception() if finished.done() else "still running"
        raise RuntimeError(f"job {job_id}: no callback within {timeout_s:.0f}s ({outcome})")
    arrived, callback = done.result()
    wall = arrived - start
    await finished  # cleanup runs after the callback: let it finish before the next run
    if callback["status"] != "completed":
        failure = callback["result"].get("failure")
        raise RuntimeError(f"job {job_id} {callback['status']}: {failure}")
    stats = history_stats(await handle.fetch_history())
    result = callback["result"]
    database = result.get("database") or {}
    files = (result.get("artifacts") or {}).get("files") or {}
    if server:
        requests, inputs = server.requests, server.inputs
    else:
        # The hashing embedder answers a whole batch in one call when it has work to do.
        requests, inputs = stats.embed_batches_computing, stats.embed_computed
    return RunResult(
        wall_s=round(wall, 3),
        workflow_ms=int(callback["duration"]),
        status=callback["status"],
        steps=stats.step_seconds,
        history_events=stats.events,
        history_bytes=stats.bytes,
        largest_payload=stats.largest_payload,
        embedding_requests=requests,
        embedding_inputs=inputs,
        embedding_computed=stats.embed_computed,
        rows_loaded=sum(int(database.get(k, 0)) for k in ("posts", "sections", "media")),
        artifact_bytes=sum(int(f["bytes"]) for f in files.values()),
        counts=dict(result.get("counts") or {}),
        rate_limited=server.rate_limited if server else 0,
        chat_requests=server.chat_requests if server else 0,
        job_id=job_id,
        step_peak_rss_mb={
            step: services.worker.rss.peak_between(*span) if services.worker else 0.0
            for step, span in stats.step_spans.items()
        },
    )


async def run_floor(stack: Stack, corpus: Path, site: str, run: int) -> dict[str, Any]:
    out = stack.root / "floor-out" / site
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bench.floor",
        str(corpus),
        "--database-url",
        stack.db_url,
        "--out",
        str(out),
        "--site",
        site,
        "--revision",
        f"floor-{run}",
        cwd=str(REPO_ROOT),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    stdout, stderr = await proc.communicate()
    if proc.returncode != 0:
        raise RuntimeError(f"floor failed: {stderr.decode()[-2000:]}")
    return dict(json.loads(stdout))


async def run_scenario(
    stack: Stack,
    scenario: Scenario,
    *,
    runs: int,
    load_requests: int,
    second_site: bool,
    log: Any,
) -> ScenarioResult:
    corpus_dir = stack.root / "corpora" / str(scenario.posts)
    if not corpus_dir.exists():
        await asyncio.to_thread(generate_corpus, corpus_dir, scenario.posts, SEED)
    warm = stack.root / "corpora" / "warmup"
    if not warm.exists():
        await asyncio.to_thread(generate_corpus, warm, 5, SEED)

    server = (
        LatencyServer(
            latency_s=scenario.latency_ms / 1000,
            tokens_per_minute=scenario.tokens_per_minute,
        )
        if scenario.embedder == "api"
        else None
    )
    timeout_s = 120 + scenario.posts * 0.5
    pressroom: list[RunResult] = []
    floors: list[dict[str, Any]] = []
    load: list[LoadResult] = []
    load_rss = 0.0
    async with (
        server.running() if server else _nothing(),
        Callbacks().running() as callbacks,
        Services(stack, scenario, _embedder_env(scenario, server)) as services,
        aiohttp.ClientSession() as http,
    ):
        # A long-running worker has its imports, pools and caches warm: so does the bench's.
        await reset_database(stack.db_url)
        await run_pressroom(stack, services, callbacks, http, warm, "warmup", server, timeout_s)
        assert services.worker and services.api
        services.worker.rss.reset()
        services.api.rss.reset()
        site = f"bench-{scenario.posts}"
        for run in range(runs):
            await reset_database(stack.db_url)
            floors.append(await run_floor(stack, corpus_dir, f"floor-{scenario.posts}", run))
            log(f"  {scenario.name} floor run {run + 1}: {floors[-1]['seconds']:.2f}s")
            await reset_database(stack.db_url)
            pressroom.append(
                await run_pressroom(
                    stack, services, callbacks, http, corpus_dir, site, server, timeout_s
                )
            )
            log(f"  {scenario.name} pressroom run {run + 1}: {pressroom[-1].wall_s:.2f}s")
        second: RunResult | None = None
        if second_site:
            # The steady state: the vector indexes already hold another site's revision, so
            # this load inserts into them instead of building them after the COPY.
            second = await run_pressroom(
                stack, services, callbacks, http, corpus_dir, f"{site}-b", server, timeout_s
            )
            log(f"  {scenario.name} second site (indexes exist): {second.wall_s:.2f}s")
        if load_requests:
            load, load_rss = await api_load(
                stack, services, http, corpus_dir, site, pressroom[-1].job_id, load_requests, log
            )
        worker_peak = services.worker.rss.peak_mb
        worker_hwm = round(services.worker.rss.hwm_kib / 1024, 1)
        api_peak = services.api.rss.peak_mb
        for proc in (services.worker, services.api):
            if proc.popen.poll() is not None:
                raise RuntimeError(f"{proc.name} died: " + "\n".join(tail(proc.log)))
    result = _summarise(scenario, pressroom, floors, worker_peak, worker_hwm, api_peak, load)
    result.load_api_peak_rss_mb = load_rss
    if second is not None:
        result.second_site_wall_s = second.wall_s
        result.second_site_steps = second.steps
    return result


@asynccontextmanager
async def _nothing() -> AsyncIterator[None]:
    yield None


def _summarise(
    scenario: Scenario,
    pressroom: list[RunResult],
    floors: list[dict[str, Any]],
    worker_peak: float,
    worker_hwm: float,
    api_peak: float,
    load: list[LoadResult],
) -> ScenarioResult:
    wall = _median([r.wall_s for r in pressroom])
    floor = _median([f["seconds"] for f in floors])
    steps = {
        step: _median([r.steps[step] for r in pressroom if step in r.steps])
        for step in pressroom[0].steps
    }
    phases = {k: _median([f["phases"][k] for f in floors]) for k in floors[0]["phases"]}
    last = pressroom[-1]
    return ScenarioResult(
        scenario=scenario.name,
        posts=scenario.posts,
        embedder=scenario.embedder,
        latency_ms=scenario.latency_ms,
        tokens_per_minute=scenario.tokens_per_minute,
        runs=len(pressroom),
        wall_s=wall,
        wall_s_runs=[r.wall_s for r in pressroom],
        workflow_ms=int(statistics.median(r.workflow_ms for r in pressroom)),
        floor_s=floor,
        floor_s_runs=[f["seconds"] for f in floors],
        ratio_to_floor=round(wall / floor, 2) if floor else 0.0,
        steps=steps,
        floor_phases=phases,
        step_peak_rss_mb={
            step: max(r.step_peak_rss_mb.get(step, 0.0) for r in pressroom) for step in steps
        },
        embedding_requests=int(statistics.median(r.embedding_requests for r in pressroom)),
        embedding_inputs=int(statistics.median(r.embedding_inputs for r in pressroom)),
        embedding_computed=last.embedding_computed,
        worker_peak_rss_mb=worker_peak,
        worker_main_hwm_mb=worker_hwm,
        api_peak_rss_mb=api_peak,
        floor_peak_rss_mb=max(round(f.get("peak_rss_kib", 0) / 1024, 1) for f in floors),
        history_events=max(r.history_events for r in pressroom),
        history_bytes=max(r.history_bytes for r in pressroom),
        largest_payload=max(r.largest_payload for r in pressroom),
        rows_loaded=last.rows_loaded,
        artifact_bytes=last.artifact_bytes,
        counts=last.counts,
        rate_limited=max(r.rate_limited for r in pressroom),
        vision_requests=max(r.chat_requests for r in pressroom),
        load=[asdict(x) for x in load],
        run_details=[
            {
                "wall_s": r.wall_s,
                "workflow_ms": r.workflow_ms,
                "steps": r.steps,
                "step_peak_rss_mb": r.step_peak_rss_mb,
            }
            for r in pressroom
        ],
    )


# --- API load ------------------------------------------------------------------------------


async def api_load(
    stack: Stack,
    services: Services,
    http: aiohttp.ClientSession,
    corpus: Path,
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
            "data": {"repoUrl": str(corpus), "distFolder": "dist", "site": site},
        }
        await _post_job(http, idle.base, existing)
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
            queries = ["river stone", "database cache", "glacier harbor", "workflow retry"]

            def search(i: int) -> tuple[str, str, dict[str, Any] | None]:
                q = queries[i % len(queries)].replace(" ", "+")
                return "GET", f"{idle.base}/search?site={site}&q={q}&limit=10", None

            # One client shows a query's latency; eight show throughput (and queueing).
            for clients in (1, 8):
                results.append(
                    await run_load(
                        f"GET /search ({clients} client{'s' if clients > 1 else ''})",
                        search,
                        total=total,
                        concurrency=clients,
                    )
                )
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


# --- main ----------------------------------------------------------------------------------


async def bench(
    names: list[str],
    runs: int,
    load_requests: int,
    second_site: bool,
    out_dir: Path,
    log: Any,
) -> dict[str, Any]:
    started = datetime.now(UTC)
    results: list[ScenarioResult] = []
    async with bench_stack() as stack:
        largest_local = max(
            (SCENARIOS[n] for n in names if SCENARIOS[n].embedder == "local"),
            key=lambda s: s.posts,
            default=None,
        )
        for name in names:
            scenario = SCENARIOS[name]
            log(f"scenario {name}: {scenario.posts} posts, {scenario.embedder} embedder")
            results.append(
                await run_scenario(
                    stack,
                    scenario,
                    runs=runs,
                    load_requests=load_requests if scenario == largest_local else 0,
                    second_site=second_site,
                    log=log,
                )
            )
    doc = {
        "startedAt": started.isoformat().replace("+00:00", "Z"),
        "machine": report.machine(),
        "command": " ".join(["python -m bench.run", *sys.argv[1:]]),
        "runs": runs,
        "scenarios": [asdict(r) for r in results],
    }
    report.write(doc, out_dir)
    return doc


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument(
        "--scenarios",
        default=",".join(DEFAULT),
        help=f"comma-separated, from: {', '.join(SCENARIOS)}",
    )
    parser.add_argument("--runs", type=int, default=3, help="runs per scenario (median)")
    parser.add_argument("--load-requests", type=int, default=2000, help="requests per load case")
    parser.add_argument("--latency-ms", type=int, help="override the API scenarios' latency")
    parser.add_argument("--tpm", type=int, help="override the API scenarios' tokens per minute")
    parser.add_argument(
        "--no-second-site",
        action="store_true",
        help="skip the extra run that loads a second site into existing vector indexes",
    )
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    names = [n.strip() for n in args.scenarios.split(",") if n.strip()]
    unknown = [n for n in names if n not in SCENARIOS]
    if unknown:
        parser.error(f"unknown scenarios {unknown}; known: {', '.join(SCENARIOS)}")
    for n in names:
        s = SCENARIOS[n]
        if s.embedder == "api":
            SCENARIOS[n] = dataclasses.replace(
                s,
                latency_ms=args.latency_ms if args.latency_ms is not None else s.latency_ms,
                tokens_per_minute=args.tpm if args.tpm is not None else s.tokens_per_minute,
            )

    def log(line: str) -> None:
        print(line, flush=True)

    doc = asyncio.run(
        bench(names, args.runs, args.load_requests, not args.no_second_site, args.out, log)
    )
    print(report.markdown(doc))
    return 0


if __name__ == "__main__":
    sys.exit(main())
