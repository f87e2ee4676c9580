"""Incremental revisions: a full build vs a rebuild after one post changed, and vs a rebuild
with nothing changed, on generated posts or a real corpus (`--corpus go-blog`).

Runs the real worker (in this process) on its own Temporal dev server and embedded Postgres
(bench/stack.py), for each embedder scenario:

- `hashing`: the local embedder, so embedding is cheap and the ratio shows the pipeline's
  fixed per-revision costs (parse, load, artifacts); inputs sent = embeddings computed.
- `remote`: an OpenAI-compatible server answering each request after `--latency` seconds
  (default 1.0, about what a hosted provider takes for a 512-input batch; no rate limit), via
  bench/latency_server.py; inputs sent are counted at the server.

Each repetition empties the database (cache, revisions, vector indexes), builds the pristine
corpus (full: cold cache, empty database), builds it again untouched (unchanged: the result
must say so), edits one sentence of one post, and builds again (incremental). Reported:
median wall times (job start to result) of `--repeats` runs, the median of the per-run
ratios, and the embedding inputs each build sent.

    .venv/bin/python -m bench.incremental                      # 1,000 posts, 3 runs each
    .venv/bin/python -m bench.incremental --posts 200 --repeats 1 --scenarios hashing
    .venv/bin/python -m bench.incremental --corpus hugo-docs --scenarios hashing
"""

from __future__ import annotations

import argparse
import asyncio
import json
import shutil
import statistics
import time
import uuid
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from pressroom.starter.worker import running_worker
from temporalio.client import WorkflowHistory

from bench.generate import generate_corpus
from bench.latency_server import LatencyServer
from bench.real_corpus import REAL_CORPORA, copy_corpus, corpus_posts
from bench.stack import Stack, bench_stack, reset_database
from pressroom.config import Settings
from tests.jobs import job_request, run_job

SCENARIOS = ("hashing", "remote")
EDIT = "Edited for the incremental benchmark."


@dataclass
class Build:
    seconds: float
    inputs_sent: int
    posts_changed: int
    sections: int
    unchanged: bool = False  # the result said nothing changed
    rows_written: int = 0  # posts + sections + media the load wrote (0: no load ran)
    steps: dict[str, float] = field(default_factory=dict)  # activity type -> seconds


def step_seconds(history: WorkflowHistory) -> dict[str, float]:
    """Per activity type, from its first scheduling to its last completion (parallel
    embedding batches count once), read from the job's workflow history."""
    scheduled: dict[int, tuple[str, float]] = {}
    spans: dict[str, list[float]] = {}
    for event in history.events:
        at = event.event_time.ToMicroseconds() / 1e6
        if event.HasField("activity_task_scheduled_event_attributes"):
            kind = event.activity_task_scheduled_event_attributes.activity_type.name
            scheduled[event.event_id] = (kind, at)
        elif event.HasField("activity_task_completed_event_attributes"):
            kind, start = scheduled[
                event.activity_task_completed_event_attributes.scheduled_event_id
            ]
            span = spans.setdefault(kind, [start, at])
            span[0], span[1] = min(span[0], start), max(span[1], at)
    return {kind: round(end - start, 2) for kind, (start, end) in spans.items()}


@dataclass
class Scenario:
    name: str
    posts: int
    full: list[Build] = field(default_factory=list)
    incremental: list[Build] = field(default_factory=list)
    unchanged: list[Build] = field(default_factory=list)

    def summary(self) -> dict[str, Any]:
        ratios = [i.seconds / f.seconds for f, i in zip(self.full, self.incremental, strict=True)]
        return {
            "scenario": self.name,
            "posts": self.posts,
            "sections": self.full[0].sections,
            "runs": len(self.full),
            "fullSeconds": round(statistics.median(b.seconds for b in self.full), 2),
            "incrementalSeconds": round(statistics.median(b.seconds for b in self.incremental), 2),
            "ratio": round(statistics.median(ratios), 3),
            "unchangedSeconds": round(statistics.median(b.seconds for b in self.unchanged), 2),
            "unchangedRatio": round(
                statistics.median(
                    u.seconds / f.seconds for f, u in zip(self.full, self.unchanged, strict=True)
                ),
                3,
            ),
            "unchangedSaidSo": all(b.unchanged for b in self.unchanged),
            "incrementalRowsWritten": statistics.median(b.rows_written for b in self.incremental),
            "incrementalPostsChanged": statistics.median(b.posts_changed for b in self.incremental),
            "fullInputsSent": statistics.median(b.inputs_sent for b in self.full),
            "incrementalInputsSent": statistics.median(b.inputs_sent for b in self.incremental),
            "fullSteps": _median_steps(self.full),
            "incrementalSteps": _median_steps(self.incremental),
            "runsDetail": {
                "full": [asdict(b) for b in self.full],
                "incremental": [asdict(b) for b in self.incremental],
                "unchanged": [asdict(b) for b in self.unchanged],
            },
        }


def _median_steps(builds: list[Build]) -> dict[str, float]:
    kinds = {k for b in builds for k in b.steps}
    return {k: round(statistics.median(b.steps.get(k, 0.0) for b in builds), 2) for k in kinds}


def edit_one_post(corpus: Path) -> Path:
    """Append a sentence to the last paragraph of the middle post: one section changes."""
    posts = corpus_posts(corpus)
    target = corpus / posts[len(posts) // 2]
    text = target.read_text(encoding="utf-8").rstrip("\n")
    target.write_text(f"{text} {EDIT}\n", encoding="utf-8")
    return target


def settings_for(
    stack: Stack, run_dir: Path, scenario: str, server: LatencyServer | None
) -> Settings:
    base: dict[str, Any] = {
        "state_dir": run_dir / "state",
        "temporal_address": stack.temporal_address,
        "temporal_task_queue": f"bench-incremental-{uuid.uuid4().hex[:8]}",
        "database_url": stack.db_url,
        "artifacts_url": str(run_dir / "artifacts"),
    }
    if scenario == "remote":
        assert server is not None
        base.update(
            embedding_provider="openai",
            embedding_model="text-embedding-3-small",
            embedding_dimensions=server.dimensions,
            openai_base_url=server.base_url,
            image_descriptions=False,
        )
    else:
        base.update(embedding_provider="hashing")
    return Settings(**base)


async def timed_build(
    stack: Stack, settings: Settings, corpus: Path, site: str, server: LatencyServer | None
) -> Build:
    before = server.inputs if server else 0
    body = job_request(corpus, site=site, dist=site)  # a folder per site (issue 10)
    started = time.perf_counter()
    result = await run_job(stack.client, settings, body)
    seconds = time.perf_counter() - started
    history = await stack.client.get_workflow_handle(body["jobId"]).fetch_history()
    if result.get("status") != "completed":
        raise RuntimeError(f"job failed: {result.get('failure')}")
    counts = result["counts"]
    computed = counts.get("textEmbeddingsComputed", 0) + counts.get("mediaEmbeddingsComputed", 0)
    database = result.get("database") or {}
    return Build(
        seconds=round(seconds, 3),
        inputs_sent=(server.inputs - before) if server else computed,
        posts_changed=counts.get("postsChanged", 0),
        sections=counts["sections"],
        steps=step_seconds(history),
        unchanged=bool(result.get("unchanged")),
        rows_written=sum(int(database.get(k, 0)) for k in ("posts", "sections", "media")),
    )


async def run_scenario(
    stack: Stack,
    name: str,
    pristine: Path,
    work: Path,
    posts: int,
    repeats: int,
    latency: float,
) -> Scenario:
    out = Scenario(name=name, posts=posts)
    server = LatencyServer(latency_s=latency, tokens_per_minute=10**9) if name == "remote" else None
    async with _maybe_running(server):
        for rep in range(repeats):
            await reset_database(stack.db_url)
            run_dir = work / f"{name}-{rep}"
            corpus = run_dir / "corpus"
            shutil.copytree(pristine, corpus)
            settings = settings_for(stack, run_dir, name, server)
            async with running_worker(settings, stack.client):
                # Warm the worker (imports, pools, first workflow task) on another site.
                warm = generate_corpus(run_dir / "warm", posts=3, seed=rep + 100)
                warm_up = job_request(warm, site="warm-up", dist="warm-up")
                await run_job(stack.client, settings, warm_up)
                site = f"bench-{rep}"
                out.full.append(await timed_build(stack, settings, corpus, site, server))
                out.unchanged.append(await timed_build(stack, settings, corpus, site, server))
                edit_one_post(corpus)
                out.incremental.append(await timed_build(stack, settings, corpus, site, server))
            print(
                f"  {name} run {rep + 1}: full {out.full[-1].seconds:.2f}s "
                f"({out.full[-1].inputs_sent} inputs), incremental "
                f"{out.incremental[-1].seconds:.2f}s ({out.incremental[-1].inputs_sent} inputs), "
                f"unchanged {out.unchanged[-1].seconds:.2f}s",
                flush=True,
            )
            shutil.rmtree(run_dir, ignore_errors=True)
    return out


class _maybe_running:
    def __init__(self, server: LatencyServer | None) -> None:
        self.server = server
        self._cm: Any = None

    async def __aenter__(self) -> LatencyServer | None:
        if self.server is None:
            return None
        self._cm = self.server.running()
        return await self._cm.__aenter__()

    async def __aexit__(self, *exc: object) -> None:
        if self._cm is not None:
            await self._cm.__aexit__(*exc)


def markdown(results: list[dict[str, Any]]) -> str:
    lines = [
        "| corpus | embedder | posts | sections | full build | one post changed | ratio "
        "| inputs sent (full → incremental) | rows written (incremental) | nothing changed "
        "| ratio |",
        "|---|---|---:|---:|---:|---:|---:|---|---:|---:|---:|",
    ]
    for r in results:
        said = "" if r["unchangedSaidSo"] else " (result did not say unchanged)"
        lines.append(
            f"| {r['corpus']} | {r['scenario']} | {r['posts']} | {r['sections']} "
            f"| {r['fullSeconds']:.2f} s | {r['incrementalSeconds']:.2f} s | {r['ratio']:.2f} "
            f"| {r['fullInputsSent']:g} → {r['incrementalInputsSent']:g} "
            f"| {r['incrementalRowsWritten']:g} | {r['unchangedSeconds']:.2f} s{said} "
            f"| {r['unchangedRatio']:.2f} |"
        )
    for r in results:
        order = sorted(r["fullSteps"], key=lambda k: -r["fullSteps"][k])
        steps = ", ".join(
            f"{k} {r['fullSteps'][k]:.1f}→{r['incrementalSteps'].get(k, 0):.1f}" for k in order
        )
        lines.append(f"\n{r['scenario']} steps (s, full→incremental): {steps}")
    return "\n".join(lines)


async def main_async(args: argparse.Namespace) -> list[dict[str, Any]]:
    async with bench_stack() as stack:
        if args.corpus == "generated":
            pristine = generate_corpus(stack.root / "pristine", posts=args.posts, seed=args.seed)
        else:
            pristine = copy_corpus(args.corpus, stack.root / "pristine")
        posts = len(corpus_posts(pristine))
        results = []
        for name in args.scenarios:
            print(f"scenario {name}: {args.corpus}, {posts} posts, {args.repeats} runs", flush=True)
            scenario = await run_scenario(
                stack, name, pristine, stack.root / "runs", posts, args.repeats, args.latency
            )
            results.append({"corpus": args.corpus, **scenario.summary()})
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--corpus", choices=("generated", *REAL_CORPORA), default="generated")
    parser.add_argument("--posts", type=int, default=1000, help="generated corpus: posts")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--latency", type=float, default=1.0, help="remote: seconds a request")
    parser.add_argument("--scenarios", nargs="+", choices=SCENARIOS, default=list(SCENARIOS))
    parser.add_argument("--out", type=Path, help="also write the results as JSON here")
    args = parser.parse_args()
    results = asyncio.run(main_async(args))
    print()
    print(markdown(results))
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
