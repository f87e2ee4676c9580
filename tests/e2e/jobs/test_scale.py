"""Scale: a 10,000-post repository keeps the workflow history small, and the parse step's
multi-process path produces exactly what the single-process path does.

History limits (issue 6): under 2,000 events and 2 MB, no payload over 64 KiB. History grows
with the number of embedding batches only (tests/test_history_size.py), so the process-all
test runs 1,000 posts cut into at least as many batches as 10,000 posts make at the default
EMBED_BATCH_SIZE; the parse-only test runs the 10,000 posts themselves.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from pressroom.starter.worker import running_worker
from temporalio.client import Client

from bench.generate import generate_corpus
from bench.history import HistoryStats, history_stats
from pressroom.config import Settings
from pressroom.sources import SourceLimits
from pressroom.steps import parse
from pressroom.steps.env import StepEnv
from pressroom.steps.fetch import FetchInput, fetch_source
from pressroom.storage.local import LocalStore
from pressroom.storage.workstore import WorkKeys
from tests.jobs import MAX_PAYLOAD_BYTES, job_request, run_job

LIMITS = SourceLimits(max_total_bytes=1 << 30, max_files=10_000, max_file_bytes=1 << 24)
MAX_EVENTS = 2000
MAX_HISTORY_BYTES = 2 * 1024 * 1024


def _assert_bounded(stats: HistoryStats) -> None:
    assert stats.events < MAX_EVENTS, stats
    assert stats.bytes < MAX_HISTORY_BYTES, stats
    assert stats.largest_payload < MAX_PAYLOAD_BYTES, stats


async def test_history_bounded_for_10000_posts_parse_only(
    settings: Settings, temporal_client: Client, tmp_path: Path
) -> None:
    corpus = generate_corpus(tmp_path / "c10000", posts=10_000, seed=6)
    started = time.monotonic()
    async with running_worker(settings, temporal_client):
        body = job_request(corpus, task="parse-only", site="scale-10000")
        result = await run_job(temporal_client, settings, body)
    assert result["status"] == "completed", result.get("failure")
    assert result["counts"]["posts"] == 10_000
    stats = history_stats(await temporal_client.get_workflow_handle(body["jobId"]).fetch_history())
    _assert_bounded(stats)
    # Reported, not asserted (no wall-clock assertions): shows in `pytest -s` output.
    print(f"10,000 posts parse-only: {time.monotonic() - started:.1f}s, {stats}")


async def test_history_bounded_at_the_batch_count_of_10000_posts(
    settings: Settings, temporal_client: Client, tmp_path: Path
) -> None:
    # 10,000 generated posts hold ~35,000 sections and ~15,000 images: ~99 batches of 512.
    # 1,000 posts (~3,500 sections, ~1,500 images) in batches of 40 make more than that.
    settings = settings.model_copy(update={"embed_batch_size": 40})
    corpus = generate_corpus(tmp_path / "c1000", posts=1000, seed=6)
    async with running_worker(settings, temporal_client):
        body = job_request(corpus, site="scale-batches")
        result = await run_job(temporal_client, settings, body)
    assert result["status"] == "completed", result.get("failure")
    stats = history_stats(await temporal_client.get_workflow_handle(body["jobId"]).fetch_history())
    batches = sum(stats.embed_batches.values())
    assert batches >= 100, stats.embed_batches
    assert stats.embed_inputs == result["counts"]["sections"] + result["counts"]["media"]
    _assert_bounded(stats)


async def test_multi_process_parse_matches_single_process(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    corpus = generate_corpus(tmp_path / "corpus", posts=150, seed=3)
    # A post that fails to parse and a draft: both must be reported the same way.
    (corpus / "_posts" / "2020-01-01-broken.md").write_bytes(b"---\ntitle: [unclosed\n---\nx")
    (corpus / "_posts" / "2020-01-02-draft.md").write_text("---\ndraft: true\n---\n# d\n")
    monkeypatch.setattr(parse, "PROCESS_POOL_MIN_POSTS", 10)
    outputs = {}
    for processes in (1, 3):
        store = LocalStore(tmp_path / f"store-{processes}")
        keys = WorkKeys("job")
        fetch_dir, parse_dir = tmp_path / f"f{processes}", tmp_path / f"p{processes}"
        fetch_dir.mkdir()
        parse_dir.mkdir()
        await fetch_source(
            FetchInput(str(corpus), LIMITS), StepEnv(store=store, keys=keys, scratch=fetch_dir)
        )
        summary = await parse.parse_source(
            parse.ParseInput(batch_size=64, processes=processes),
            StepEnv(store=store, keys=keys, scratch=parse_dir),
        )
        files = {
            key.removeprefix(keys.prefix): (await store.get_bytes(key))
            for key in await store.list_keys(keys.prefix)
            if not key.endswith("source.tar")
        }
        outputs[processes] = (summary, files)
    single, multi = outputs[1], outputs[3]
    assert single[0] == multi[0]
    assert single[0].posts == 150 and single[0].error_count == 1 and single[0].drafts_skipped == 1
    assert single[0].text_batches > 1
    assert sorted(single[1]) == sorted(multi[1])
    for name, data in single[1].items():
        assert multi[1][name] == data, name
