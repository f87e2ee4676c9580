"""Fault matrix, the embeddings provider, end to end through the workflow: a rate-limit spell
(several 429s in a row) is waited out as the provider says, and posts at the edges (20k
tokens, empty, thousands of sections, a batch far over the request token limit) never make
a request the provider would refuse.

Single faults (one 429, a 500, a timeout, a 401, an exhausted quota) are covered through whole
jobs in tests/test_openai_jobs.py; this module adds what happens over a spell and at limits.
"""

from __future__ import annotations

import itertools
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import pytest_asyncio
from pressroom.starter.worker import running_worker
from temporalio.client import Client

from pressroom.config import Settings
from tests.fakes.crash_drills import drill_settings, nonce_corpus, start_attempts
from tests.fakes.openai_server import (
    MAX_INPUT_TOKENS,
    MAX_INPUTS,
    MAX_REQUEST_TOKENS,
    FakeOpenAI,
    server_tokens,
)
from tests.jobs import job_request, run_job, start


@pytest_asyncio.fixture
async def provider() -> AsyncIterator[FakeOpenAI]:
    async with FakeOpenAI.running() as server:
        yield server


@pytest.fixture
def settings(settings: Settings, provider: FakeOpenAI) -> Settings:
    return drill_settings(
        settings,
        embedding_provider="openai",
        embedding_model="text-embedding-3-small",
        embedding_dimensions=64,
        openai_base_url=provider.base_url,
        openai_timeout_seconds=5.0,
        image_descriptions=False,
    )


def assert_within_provider_limits(server: FakeOpenAI) -> None:
    requests = server.embedding_requests()
    assert requests
    for r in requests:
        assert 0 < len(r.inputs) <= MAX_INPUTS
        assert sum(server_tokens(t) for t in r.inputs) <= MAX_REQUEST_TOKENS
        for text in r.inputs:
            assert text.strip(), "an empty input reached the provider"
            assert server_tokens(text) <= MAX_INPUT_TOKENS


async def test_a_rate_limit_spell_is_waited_out_as_the_provider_says(
    settings: Settings, temporal_client: Client, provider: FakeOpenAI, tmp_path: Path
) -> None:
    corpus = nonce_corpus(tmp_path / "corpus", posts=3, sections=2, nonce=uuid.uuid4().hex)
    provider.rate_limit(3, retry_after=1.5)  # three 429s in a row, each asking for 1.5 s
    async with running_worker(settings, temporal_client):
        job_id = await start(temporal_client, settings, job_request(corpus, site="spell"))
        handle = temporal_client.get_workflow_handle(job_id)
        result = await handle.result()
    assert result["status"] == "completed", result

    requests = provider.embedding_requests()
    assert [r.status for r in requests] == [429, 429, 429, 200]
    assert all(r.inputs == requests[0].inputs for r in requests)
    gaps = [b.received_at - a.received_at for a, b in itertools.pairwise(requests)]
    # Each retry waited what retry-after said (the policy's own backoff would be 1, 2, 4 s).
    assert all(gap >= 1.5 for gap in gaps), gaps
    assert len(provider.embedded) == len(set(provider.embedded)) == 9
    # The one batch succeeded at its fourth attempt: Temporal, not the client, retried.
    assert start_attempts(await handle.fetch_history(), "embed_batch") == [4]


def _edge_corpus(root: Path, nonce: str) -> tuple[Path, int]:
    """Posts at the provider's edges; returns (root, sections with text to embed)."""
    posts = root / "_posts"
    posts.mkdir(parents=True)
    # About 20k tokens in one section: cut to the model's input limit, never refused.
    words = " ".join(f"w{i}{nonce[:6]}" for i in range(20_000))
    (posts / "2024-01-01-twenty-k.md").write_text(f"---\ntitle: Long\n---\n{words}\n")
    (posts / "2024-01-02-empty.md").write_bytes(b"")
    (posts / "2024-01-03-front-only.md").write_text('---\ntitle: ""\n---\n')
    (posts / "2024-01-04-blank-sections.md").write_text("# \n\n## \n\n   \n\n## \n")
    # Thousands of sections in one post.
    many = "\n".join(f"## Heading {i}\n\nLine {i} {nonce}.\n" for i in range(3000))
    (posts / "2024-01-05-many.md").write_text(f"---\ntitle: Many\n---\n{many}")
    # 45 sections of about 7k tokens each: about 315k tokens, over one request's limit.
    heavy = "\n".join(
        f"## Part {k}\n\n" + " ".join(f"h{k}x{i}{nonce[:4]}" for i in range(4600))
        for k in range(45)
    )
    (posts / "2024-01-06-heavy.md").write_text(f"---\ntitle: Heavy\n---\n{heavy}")
    return root, 1 + 3000 + 45


async def test_posts_at_the_edges_never_make_a_request_over_the_provider_limits(
    settings: Settings, temporal_client: Client, provider: FakeOpenAI, tmp_path: Path
) -> None:
    corpus, _ = _edge_corpus(tmp_path / "edges", uuid.uuid4().hex)
    # One embedding activity holds every input, so the provider client alone must split it.
    settings = settings.model_copy(update={"embed_batch_size": 10_000})
    async with running_worker(settings, temporal_client):
        result = await run_job(temporal_client, settings, job_request(corpus, site="edges"))
    assert result["status"] == "completed", result
    assert [r.status for r in provider.embedding_requests()] == [200] * len(
        provider.embedding_requests()
    )
    assert_within_provider_limits(provider)
    assert len(provider.embedding_requests()) >= 3  # 3000+ inputs, and 315k+ tokens
    sent = provider.embedded
    assert len(sent) == len(set(sent)), "an input was embedded twice"
    counts = result["counts"]
    assert counts["textEmbeddingsComputed"] + counts["textEmbeddingsReused"] == counts["sections"]
    assert counts["sections"] >= 3046
