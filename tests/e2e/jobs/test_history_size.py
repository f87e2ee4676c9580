"""The claim check: workflow history carries references and summaries, never bodies or vectors."""

from __future__ import annotations

from pathlib import Path

from pressroom.starter.worker import running_worker
from temporalio.client import Client

from bench.generate import generate_corpus
from pressroom.config import Settings
from tests.jobs import MAX_PAYLOAD_BYTES, job_request, largest_event, run_job


async def test_no_payload_over_64k_for_jekyll(
    settings: Settings, worker: None, temporal_client: Client, jekyll_copy: Path
) -> None:
    body = job_request(jekyll_copy, site="jekyll-history")
    result = await run_job(temporal_client, settings, body)
    assert result["status"] == "completed"
    history = await temporal_client.get_workflow_handle(body["jobId"]).fetch_history()
    # Each event holds at most one payload plus a little framing: bounding the event bounds it.
    assert largest_event(history) < MAX_PAYLOAD_BYTES


async def test_history_does_not_grow_with_posts(
    settings: Settings, temporal_client: Client, tmp_path: Path
) -> None:
    # History grows with the number of embedding batches, by design, and with nothing else:
    # with a batch size that holds either corpus in one batch, 10 and 200 posts must give
    # histories of the same length.
    settings = settings.model_copy(update={"embed_batch_size": 4096})
    sizes = {}
    async with running_worker(settings, temporal_client):
        for posts in (10, 200):
            corpus = generate_corpus(tmp_path / f"c{posts}", posts=posts, seed=posts)
            body = job_request(corpus, site=f"grow-{posts}", dist=f"grow-{posts}")
            result = await run_job(temporal_client, settings, body)
            assert result["status"] == "completed"
            assert result["counts"]["posts"] == posts
            history = await temporal_client.get_workflow_handle(body["jobId"]).fetch_history()
            sizes[posts] = (len(history.events), largest_event(history))
    assert sizes[10][0] == sizes[200][0], sizes
    assert sizes[200][1] < MAX_PAYLOAD_BYTES
