"""Related posts: exact nearest centroids, computed in the load, served and published."""

from __future__ import annotations

import json
from pathlib import Path

import asyncpg
import numpy as np
from temporalio.client import Client

from pressroom.config import Settings
from pressroom.db import related
from pressroom.db.pool import connect
from tests.fakes import search_sites
from tests.fakes.search_sites import EXAMPLE_BLOG, SearchDB
from tests.jobs import job_request, run_job

search_db = search_sites.search_db  # the shared fixture, found by name


def test_nearest_is_exact_and_never_the_post_itself() -> None:
    rng = np.random.default_rng(5)
    ids = [f"p{i:02d}" for i in range(40)]
    vectors = rng.standard_normal((40, 16)).astype(np.float32)
    rows = list(related.nearest(ids, vectors, limit=5))
    unit = vectors / np.linalg.norm(vectors, axis=1, keepdims=True)
    sims = unit @ unit.T
    for i, post in enumerate(ids):
        mine = [r for r in rows if r[0] == post]
        assert [r[1] for r in mine] == [1, 2, 3, 4, 5]
        assert post not in {r[2] for r in mine}
        order = [j for j in np.argsort(-sims[i]) if j != i][:5]
        assert [r[2] for r in mine] == [ids[j] for j in order]
        assert np.allclose([r[3] for r in mine], sims[i, order], atol=1e-5)


def test_nearest_edge_cases() -> None:
    same = np.ones((3, 4), dtype=np.float32)
    # Ties break by post id; fewer posts than the limit give what there is.
    rows = list(related.nearest(["c", "a", "b"], same, limit=5))
    assert [(r[0], r[1], r[2]) for r in rows if r[0] == "c"] == [("c", 1, "a"), ("c", 2, "b")]
    # A zero centroid has no direction: no related posts, and nobody's.
    vectors = np.array([[1, 0], [0, 0], [1, 0.1]], dtype=np.float32)
    rows = list(related.nearest(["a", "zero", "b"], vectors))
    assert {r[0] for r in rows} == {"a", "b"} and "zero" not in {r[2] for r in rows}
    assert list(related.nearest(["only"], np.ones((1, 3), dtype=np.float32))) == []


async def _check_site(conn: asyncpg.Connection, site: str, revision: str) -> int:
    """Every post with an embedded section has min(5, n - 1) related posts, never itself,
    exactly the nearest centroids of its section vectors."""
    rows = await conn.fetch(
        "SELECT post_id, embedding FROM sections "
        "WHERE site_id = $1 AND revision_id = $2 AND embedding IS NOT NULL",
        site,
        revision,
    )
    by_post: dict[str, list[np.ndarray]] = {}
    for r in rows:
        by_post.setdefault(r["post_id"], []).append(r["embedding"].to_numpy())
    ids = sorted(by_post)
    centroids = np.stack([np.mean(by_post[p], axis=0) for p in ids])
    unit = centroids / np.linalg.norm(centroids, axis=1, keepdims=True)
    stored = await related.all_related_posts(conn, site, revision)
    assert set(stored) == set(ids)
    want = min(5, len(ids) - 1)
    for i, post in enumerate(ids):
        got = stored[post]
        assert len(got) == want
        assert post not in {g["postId"] for g in got}
        sims = unit @ unit[i]
        expected = sorted((j for j in range(len(ids)) if j != i), key=lambda j: -sims[j])[:want]
        assert np.allclose([g["similarity"] for g in got], sims[expected], atol=1e-4)
    return len(ids)


async def test_every_post_with_a_section_has_related_posts(search_db: SearchDB) -> None:
    conn = await connect(search_db.url)
    try:
        for site in ("blog", "jekyll"):
            checked = await _check_site(conn, site, search_db.revisions[site])
            posts = await conn.fetchval(
                "SELECT count(*) FROM posts WHERE site_id = $1 AND revision_id = $2",
                site,
                search_db.revisions[site],
            )
            assert checked == posts  # every post of these sites has sections
        # Recomputing replaces (a retried load never duplicates).
        before = await related.all_related_posts(conn, "blog", search_db.revisions["blog"])
        async with conn.transaction():
            await related.compute_related_posts(conn, "blog", search_db.revisions["blog"], 384)
        assert await related.all_related_posts(conn, "blog", search_db.revisions["blog"]) == before
        # Two posts: each is the other's only related post.
        lyon = await related.all_related_posts(conn, "lyon", search_db.revisions["lyon"])
        assert {p: [r["postId"] for r in rs] for p, rs in lyon.items()} == {
            "notes": ["releves"],
            "releves": ["notes"],
        }
    finally:
        await conn.close()


def _posts_json(settings: Settings, revision: str) -> dict[str, dict[str, object]]:
    path = Path(settings.artifacts_location) / "dist" / revision / "posts.json"
    return {p["id"]: p for p in json.loads(path.read_text(encoding="utf-8"))["posts"]}


async def test_posts_json_carries_related_posts(
    settings: Settings, temporal_client: Client, worker: None, tmp_path: Path
) -> None:
    import shutil

    blog = tmp_path / "blog"
    shutil.copytree(EXAMPLE_BLOG, blog)
    result = await run_job(
        temporal_client, settings, job_request(blog, site="related-blog", task="process-all")
    )
    posts = _posts_json(settings, result["revision"])
    with_sections = [p for p in posts.values() if p["sections"]]
    assert len(with_sections) >= 6
    for post in with_sections:
        rel = post["related"]
        assert isinstance(rel, list) and len(rel) == 5
        ids = [r["postId"] for r in rel]
        assert post["id"] not in ids and set(ids) <= set(posts)
        assert all(r["title"] == posts[r["postId"]]["title"] for r in rel)

    # parse-only has no database, so no related posts: the key is left out.
    result = await run_job(
        temporal_client,
        settings,
        job_request(blog, site="related-blog-p", task="parse-only", dist="dist-parse"),
    )
    path = Path(settings.artifacts_location) / "dist-parse" / result["revision"] / "posts.json"
    posts = json.loads(path.read_text(encoding="utf-8"))["posts"]
    assert posts and all("related" not in p for p in posts)
