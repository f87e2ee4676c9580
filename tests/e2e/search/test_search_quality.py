"""Search quality on the jekyll corpus: hybrid must match or beat the better single mode.

The corpus goes through the real pipeline steps (tests/fakes/search_sites.py); the queries
and the posts a reader expects are in tests/data/queries.yaml. Asserted on both metrics:
hybrid's MRR and recall@10 are each at least the best of text and vector.
"""

from __future__ import annotations

import asyncpg

from bench.search_quality import evaluate, load_queries, markdown_table
from pressroom.embeddings import HashingEmbedder
from pressroom.search.fusion import Fusion
from pressroom.search.searcher import Searcher
from tests.fakes import search_sites
from tests.fakes.search_sites import SearchDB

search_db = search_sites.search_db  # the shared fixture, found by name


async def test_hybrid_is_at_least_as_good_as_the_better_single_mode(search_db: SearchDB) -> None:
    queries = load_queries()
    assert len(queries) >= 30
    conn = await asyncpg.connect(search_db.url)
    try:
        known = {
            r["post_id"]
            for r in await conn.fetch(
                "SELECT post_id FROM posts WHERE site_id = 'jekyll' AND revision_id = $1",
                search_db.revisions["jekyll"],
            )
        }
    finally:
        await conn.close()
    missing = {p for q in queries for p in q.expected} - known
    assert not missing, f"queries.yaml expects posts the corpus does not have: {missing}"

    scores = {
        s.mode: s
        for s in await evaluate(search_db.url, "jekyll", queries, Searcher(HashingEmbedder(384)))
    }
    table = markdown_table(list(scores.values()), len(queries))
    text, vector, hybrid = scores["text"], scores["vector"], scores["hybrid"]
    assert hybrid.mrr >= max(text.mrr, vector.mrr), table
    assert hybrid.recall_at_10 >= max(text.recall_at_10, vector.recall_at_10), table
    # Floors, so a regression in any part shows even when all modes get worse together.
    assert hybrid.mrr >= 0.8 and hybrid.recall_at_10 >= 0.9, table


async def test_fusion_weights_change_the_ranking(search_db: SearchDB) -> None:
    # All weight on one list reproduces that list's quality: the knobs are really wired.
    queries = load_queries()[:12]
    embedder = HashingEmbedder(384)
    text_only = Searcher(embedder, Fusion(text_weight=1.0, vector_weight=0.0))
    fused = {s.mode: s for s in await evaluate(search_db.url, "jekyll", queries, text_only)}
    assert fused["hybrid"].mrr == fused["text"].mrr
