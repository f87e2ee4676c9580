"""`make bench`: Pressroom end to end through the API and a real worker process, per scenario,
beside the floor (bench/floor.py) on the same corpus and database.

For each scenario it prepares its corpus (a seeded generated one, a copy of a shared real
corpus, or the 10,000-post mix of bench/real_corpus.py), starts a worker and an API process on
its own Temporal dev server and Postgres, warms the worker up on a tiny job, then alternates
Pressroom runs with the floor (bench/floor.py before, bench/physical_floor.py on the rows the
run loaded, after) or with the LlamaIndex peer (bench/peer.py, in its own virtualenv), the
database emptied before each, and reports medians. The API-latency scenarios point the
worker's OpenAI-compatible embedder (and the peer's) at bench/latency_server.py. Finally a
bounded load test hits the API on loopback.

    .venv/bin/python -m bench.run                        # every default scenario
    .venv/bin/python -m bench.run --scenarios local-100  # what `make bench-smoke` runs
    .venv/bin/python -m bench.run --scenarios real       # sets: default generated real peer all

Everything (corpora, Postgres, Temporal's SQLite file, the worker's scratch directories)
lives in one directory under $TMPDIR, removed at the end. Results:
bench/results/bench-<utc>.json and .md (and latest.json / latest.md).
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import json
import os
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp

from bench import report
from bench.api_load import api_load
from bench.generate import generate_corpus
from bench.history import history_stats
from bench.latency_server import LatencyServer
from bench.load import LoadResult
from bench.real_corpus import build_replicated, copy_corpus, corpus_posts
from bench.scenarios import DEFAULT, GENERATED, REAL_MIX, SCENARIOS, SEED, SETS, Scenario, expand
from bench.services import Callbacks, Services, embedder_env, post_job
from bench.stack import Stack, bench_stack, reset_database, tail
from pressroom.config import Settings

REPO_ROOT = Path(__file__).resolve().parent.parent
RESULTS = REPO_ROOT / "bench" / "results"
PEER_PYTHON = REPO_ROOT / ".bench-peer" / "bin" / "python"
# The optional artifacts every bench job builds (pressroom/publish/exports.py).
EXPORTS = ("search.db",)
PEER_MISSING = f"missing: no {PEER_PYTHON.parent.parent.name}/ (run `make bench-peer`)"


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
    file_bytes: dict[str, int] = field(default_factory=dict)  # per published file
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
    file_bytes: dict[str, int] = field(default_factory=dict)  # per published file, last run
    load: list[dict[str, Any]] = field(default_factory=list)
    load_api_peak_rss_mb: float = 0.0
    run_details: list[dict[str, Any]] = field(default_factory=list)
    # One more run, for a second site, into the indexes the first site's revision left.
    second_site_wall_s: float | None = None
    second_site_steps: dict[str, float] = field(default_factory=dict)
    corpus: str = GENERATED
    # bench/physical_floor.py after each run, on the rows it loaded (medians of its phases).
    physical_s: float | None = None
    physical_phases: dict[str, float] = field(default_factory=dict)
    physical_runs: list[dict[str, Any]] = field(default_factory=list)
    # The LlamaIndex peer (bench/peer.py): None when the scenario has no peer; when its
    # virtualenv is missing, peer_missing says so and the peer figures stay empty.
    peer_s: float | None = None
    peer_s_runs: list[float] = field(default_factory=list)
    peer_phases: dict[str, float] = field(default_factory=dict)
    peer_nodes: int = 0
    peer_rows: int = 0
    peer_embedding_requests: int = 0
    peer_peak_rss_mb: float = 0.0
    peer_missing: str | None = None
    ratio_to_peer: float | None = None


# --- one scenario ------------------------------------------------------------------------


def _median(values: list[float]) -> float:
    return round(statistics.median(values), 3) if values else 0.0


def _job_body(corpus: Path, job_id: str, site: str, callback: str) -> dict[str, Any]:
    return {
        "jobId": job_id,
        "task": "process-all",
        # published under {site}/, with the optional artifacts too (build time and bytes)
        "data": {"repoUrl": str(corpus), "site": site, "exports": list(EXPORTS)},
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
    await post_job(http, services.base, _job_body(corpus, job_id, site, callbacks.url))
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
        file_bytes={name: int(f["bytes"]) for name, f in files.items()},
        counts=dict(result.get("counts") or {}),
        rate_limited=server.rate_limited if server else 0,
        chat_requests=server.chat_requests if server else 0,
        job_id=job_id,
        step_peak_rss_mb={
            step: services.worker.rss.peak_between(*span) if services.worker else 0.0
            for step, span in stats.step_spans.items()
        },
    )


async def _json_of(argv: list[str], what: str, **kwargs: Any) -> dict[str, Any]:
    """Run a bench helper process and return the JSON it prints."""
    proc = await asyncio.create_subprocess_exec(
        *argv, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, **kwargs
    )
    stdout, stderr = await proc.communicate()
    if proc.returncode != 0:
        raise RuntimeError(f"{what} failed: {stderr.decode()[-2000:]}")
    return dict(json.loads(stdout))


async def run_search_db_bench(posts: int) -> dict[str, Any]:
    """bench/search_db.py in its own process (its RSS is the writers' alone)."""
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "search_db.json"
        argv = [sys.executable, "-m", "bench.search_db", "--posts", str(posts), "--json", str(out)]
        proc = await asyncio.create_subprocess_exec(
            *argv, cwd=str(REPO_ROOT), stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.PIPE,
        )  # fmt: skip
        _, stderr = await proc.communicate()
        if proc.returncode != 0:
            raise RuntimeError(f"bench.search_db failed: {stderr.decode()[-2000:]}")
        return dict(json.loads(out.read_text()))


async def run_physical_floor(stack: Stack, corpus: Path, site: str) -> dict[str, Any]:
    """bench/physical_floor.py on the rows the site's last Pressroom run loaded."""
    argv = [sys.executable, "-m", "bench.physical_floor", str(corpus)]
    argv += ["--database-url", stack.db_url, "--site", site]
    return await _json_of(argv, "physical floor", cwd=str(REPO_ROOT))


def peer_settings() -> tuple[int, int]:
    """Pressroom's embedding batch size and requests in flight, for the peer to use the same."""
    settings = Settings()
    return settings.embed_batch_size, settings.embed_concurrency


async def run_peer(stack: Stack, corpus: Path, server: LatencyServer) -> dict[str, Any]:
    """bench/peer.py in the peer's virtualenv, against the same server and Postgres."""
    batch, workers = peer_settings()
    server.reset()
    # -P, a cwd outside the repository and no PYTHONPATH: the repository's own top-level
    # folders (e.g. workflows/) must not shadow the peer's packages of the same name.
    argv = [str(PEER_PYTHON), "-P", str(REPO_ROOT / "bench" / "peer.py"), str(corpus)]
    argv += ["--database-url", stack.db_url, "--api-base", server.base_url]
    argv += ["--batch-size", str(batch), "--workers", str(workers)]
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    result = await _json_of(argv, "peer", cwd=str(stack.root), env=env)
    result["embedding_requests"] = server.requests
    return result


def prepare_corpus(root: Path, scenario: Scenario) -> tuple[Path, int]:
    """The scenario's corpus under `root` (made once per bench) and how many posts it holds."""
    if scenario.corpus == GENERATED:
        dest = root / str(scenario.posts)
        if not dest.exists():
            generate_corpus(dest, scenario.posts, SEED)
        return dest, scenario.posts
    if scenario.corpus == REAL_MIX:
        dest = root / f"{REAL_MIX}-{scenario.posts}"
        if not dest.exists():
            build_replicated(dest, scenario.posts, SEED)
        return dest, scenario.posts
    dest = root / scenario.corpus
    if not dest.exists():
        copy_corpus(scenario.corpus, dest)
    return dest, len(corpus_posts(dest))


async def run_floor(stack: Stack, corpus: Path, site: str, run: int) -> dict[str, Any]:
    out = stack.root / "floor-out" / site
    argv = [sys.executable, "-m", "bench.floor", str(corpus), "--database-url", stack.db_url]
    argv += ["--out", str(out), "--site", site, "--revision", f"floor-{run}"]
    return await _json_of(argv, "floor", cwd=str(REPO_ROOT))


async def run_scenario(
    stack: Stack,
    scenario: Scenario,
    *,
    runs: int,
    load_requests: int,
    second_site: bool,
    log: Any,
) -> ScenarioResult:
    corpus_dir, posts = await asyncio.to_thread(prepare_corpus, stack.root / "corpora", scenario)
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
    timeout_s = 120 + posts * 0.5
    pressroom: list[RunResult] = []
    floors: list[dict[str, Any]] = []
    physical: list[dict[str, Any]] = []
    peers: list[dict[str, Any]] = []
    peer_missing = PEER_MISSING if scenario.peer and not PEER_PYTHON.exists() else None
    if peer_missing:
        log(f"  {scenario.name}: peer {peer_missing}")
    load: list[LoadResult] = []
    load_rss = 0.0
    async with (
        server.running() if server else _nothing(),
        Callbacks().running() as callbacks,
        Services(stack, scenario, embedder_env(scenario, server)) as services,
        aiohttp.ClientSession() as http,
    ):
        # A long-running worker has its imports, pools and caches warm: so does the bench's.
        await reset_database(stack.db_url)
        await run_pressroom(stack, services, callbacks, http, warm, "warmup", server, timeout_s)
        assert services.worker and services.api
        services.worker.rss.reset()
        services.api.rss.reset()
        site = f"bench-{posts}" if scenario.corpus == GENERATED else f"bench-{scenario.name}"
        for run in range(runs):
            if scenario.floor:
                await reset_database(stack.db_url)
                floors.append(await run_floor(stack, corpus_dir, f"floor-{posts}", run))
                log(f"  {scenario.name} floor run {run + 1}: {floors[-1]['seconds']:.2f}s")
            await reset_database(stack.db_url)
            pressroom.append(
                await run_pressroom(
                    stack, services, callbacks, http, corpus_dir, site, server, timeout_s
                )
            )
            log(f"  {scenario.name} pressroom run {run + 1}: {pressroom[-1].wall_s:.2f}s")
            if scenario.floor:
                # On the rows this run loaded, before the next reset empties them.
                physical.append(await run_physical_floor(stack, corpus_dir, site))
                phases = physical[-1]["phases"]
                log(
                    f"  {scenario.name} physical floor run {run + 1}: "
                    f"tokenize {phases['tokenize']:.2f}s, load {phases['load']:.2f}s"
                )
            if scenario.peer and server and not peer_missing:
                await reset_database(stack.db_url)
                peers.append(await run_peer(stack, corpus_dir, server))
                log(f"  {scenario.name} peer run {run + 1}: {peers[-1]['seconds']:.2f}s")
        second: RunResult | None = None
        if second_site and scenario.floor:
            # The steady state: the vector indexes already hold another site's revision, so
            # this load inserts into them instead of building them after the COPY.
            second = await run_pressroom(
                stack, services, callbacks, http, corpus_dir, f"{site}-b", server, timeout_s
            )
            log(f"  {scenario.name} second site (indexes exist): {second.wall_s:.2f}s")
        if load_requests:
            load, load_rss = await api_load(
                stack,
                services,
                http,
                corpus_dir,
                posts,
                site,
                pressroom[-1].job_id,
                load_requests,
                log,
            )
        worker_peak = services.worker.rss.peak_mb
        worker_hwm = round(services.worker.rss.hwm_kib / 1024, 1)
        api_peak = services.api.rss.peak_mb
        for proc in (services.worker, services.api):
            if proc.popen.poll() is not None:
                raise RuntimeError(f"{proc.name} died: " + "\n".join(tail(proc.log)))
    result = _summarise(scenario, pressroom, floors, worker_peak, worker_hwm, api_peak, load)
    result.posts = posts
    result.load_api_peak_rss_mb = load_rss
    if second is not None:
        result.second_site_wall_s = second.wall_s
        result.second_site_steps = second.steps
    _add_physical(result, physical)
    if scenario.peer:
        _add_peer(result, peers, peer_missing)
    return result


def _add_physical(result: ScenarioResult, physical: list[dict[str, Any]]) -> None:
    if not physical:
        return
    result.physical_s = _median([p["seconds"] for p in physical])
    result.physical_phases = {
        k: _median([p["phases"][k] for p in physical]) for k in physical[0]["phases"]
    }
    result.physical_runs = physical


def _add_peer(result: ScenarioResult, peers: list[dict[str, Any]], missing: str | None) -> None:
    result.peer_missing = missing
    if not peers:
        return
    result.peer_s = _median([p["seconds"] for p in peers])
    result.peer_s_runs = [p["seconds"] for p in peers]
    result.peer_phases = {k: _median([p["phases"][k] for p in peers]) for k in peers[0]["phases"]}
    result.peer_nodes = int(peers[-1]["nodes"])
    result.peer_rows = int(peers[-1]["rows"])
    result.peer_embedding_requests = int(statistics.median(p["embedding_requests"] for p in peers))
    result.peer_peak_rss_mb = max(round(p.get("peak_rss_kib", 0) / 1024, 1) for p in peers)
    result.ratio_to_peer = round(result.wall_s / result.peer_s, 2) if result.peer_s else None


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
    phases = {
        k: _median([f["phases"][k] for f in floors]) for k in (floors or [{}])[0].get("phases", {})
    }
    last = pressroom[-1]
    return ScenarioResult(
        scenario=scenario.name,
        corpus=scenario.corpus,
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
        floor_peak_rss_mb=max(
            (round(f.get("peak_rss_kib", 0) / 1024, 1) for f in floors), default=0.0
        ),
        history_events=max(r.history_events for r in pressroom),
        history_bytes=max(r.history_bytes for r in pressroom),
        largest_payload=max(r.largest_payload for r in pressroom),
        rows_loaded=last.rows_loaded,
        artifact_bytes=last.artifact_bytes,
        file_bytes=last.file_bytes,
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
    if any(SCENARIOS[n].peer for n in names) and not PEER_PYTHON.exists():
        log(f"the LlamaIndex peer is {PEER_MISSING}: its columns will say so")
    async with bench_stack() as stack:
        # The API load test queries the generated corpus's own words and post numbers.
        largest_local = max(
            (
                SCENARIOS[n]
                for n in names
                if SCENARIOS[n].embedder == "local" and SCENARIOS[n].corpus == GENERATED
            ),
            key=lambda s: s.posts,
            default=None,
        )
        for name in names:
            scenario = SCENARIOS[name]
            size = f"{scenario.posts} posts" if scenario.posts else "every post"
            log(f"scenario {name}: {scenario.corpus} corpus, {size}, {scenario.embedder} embedder")
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
    generated = [SCENARIOS[n].posts for n in names if SCENARIOS[n].corpus == GENERATED]
    if generated:
        log(f"search.db beside search.json: {max(generated)} generated posts")
        doc["search_db"] = await run_search_db_bench(max(generated))
    report.write(doc, out_dir)
    return doc


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument(
        "--scenarios",
        default="default",
        help=f"comma-separated scenarios or sets ({', '.join(SETS)}; default: "
        f"{', '.join(DEFAULT)}), from: {', '.join(SCENARIOS)}",
    )
    parser.add_argument("--runs", type=int, default=3, help="runs per scenario (median)")
    parser.add_argument("--load-requests", type=int, default=1000, help="requests per load case")
    parser.add_argument(
        "--latency-ms", type=int, help="override the generated API scenarios' latency"
    )
    parser.add_argument(
        "--tpm", type=int, help="override the generated API scenarios' tokens per minute"
    )
    parser.add_argument(
        "--no-second-site",
        action="store_true",
        help="skip the extra run that loads a second site into existing vector indexes",
    )
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    names = expand([n.strip() for n in args.scenarios.split(",") if n.strip()])
    unknown = [n for n in names if n not in SCENARIOS]
    if unknown:
        parser.error(f"unknown scenarios {unknown}; known: {', '.join(SCENARIOS)}")
    for n in names:
        s = SCENARIOS[n]
        # The real corpora's API scenarios are named by their latency: never overridden.
        if s.embedder == "api" and s.corpus == GENERATED:
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
