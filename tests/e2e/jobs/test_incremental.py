"""Incremental revisions end to end: the real worker and Temporal dev server, Postgres, and the
local OpenAI-compatible server (tests/fakes/openai_server.py), which records every input it
is sent. Each test builds the jekyll-docs corpus once, edits it, and builds it again.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import asyncpg
import pytest_asyncio
from pressroom.starter.worker import running_worker
from temporalio.client import Client

from pressroom.config import Settings
from pressroom.content.posts import parse_post
from pressroom.db.pool import connect
from pressroom.embeddings.inputs import section_input
from tests.fakes.openai_server import FakeOpenAI, openai_server
from tests.jobs import job_request, run_job
from tests.published import assert_unchanged, snapshot
from tests.stored import current_revision_id, revision_counts

__all__ = ["openai_server"]  # the fixture, re-exported for pytest

EDITED = "docs/_docs/collections.md"
TAGGED = "docs/_docs/front-matter.md"
DELETED_POST = "docs/_docs/configuration/webrick.md"
DELETED_IMAGE = "docs/img/octojekyll.png"


def openai_settings(settings: Settings, server: FakeOpenAI, model: str) -> Settings:
    """Embeddings from the fake server, under a model name no other test uses (a cold cache)."""
    return settings.model_copy(
        update={
            "embedding_provider": "openai",
            "embedding_model": model,
            "embedding_dimensions": 64,
            "openai_base_url": server.base_url,
            "openai_api_key": None,
            "image_descriptions": False,
        }
    )


def fresh_model() -> str:
    return f"incremental-{uuid.uuid4().hex[:10]}"


@pytest_asyncio.fixture
async def db(pg_url: str) -> AsyncIterator[asyncpg.Connection]:
    conn = await connect(pg_url)
    yield conn
    await conn.close()


def section_inputs(root: Path, rel: str) -> list[str]:
    """The exact text the embed step sends for each section of one post."""
    known = frozenset(p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file())
    post = parse_post(rel, (root / rel).read_bytes(), known_files=known)
    return [section_input(post.title, s.heading, s.text) for s in post.sections]


def published(settings: Settings, result: dict[str, Any], name: str) -> dict[str, Any]:
    path = Path(settings.artifacts_location) / "dist" / result["revision"] / name
    return json.loads(path.read_text())


def latest(settings: Settings) -> dict[str, Any]:
    return json.loads((Path(settings.artifacts_location) / "dist" / "latest.json").read_text())


async def current_post_ids(conn: asyncpg.Connection, site: str) -> set[str]:
    rows = await conn.fetch(
        """
        SELECT p.post_id FROM posts AS p JOIN sites AS s
          ON s.site_id = p.site_id AND s.current_revision = p.revision_id
        WHERE p.site_id = $1
        """,
        site,
    )
    return {r["post_id"] for r in rows}


def sent(result: dict[str, Any]) -> int:
    counts = result["counts"]
    return counts["textEmbeddingsComputed"] + counts["mediaEmbeddingsComputed"]


async def test_a_body_edit_sends_only_that_posts_changed_sections(
    settings: Settings,
    temporal_client: Client,
    openai_server: FakeOpenAI,
    jekyll_copy: Path,
    db: asyncpg.Connection,
) -> None:
    settings = openai_settings(settings, openai_server, fresh_model())
    site = f"incr-body-{uuid.uuid4().hex[:6]}"
    async with running_worker(settings, temporal_client):
        first = await run_job(temporal_client, settings, job_request(jekyll_copy, site=site))
        assert first["status"] == "completed", first
        full = list(openai_server.inputs)
        assert len(full) == sent(first) > 900  # a cold cache: every input went out once
        assert len(set(full)) == len(full)  # and none twice

        before = section_inputs(jekyll_copy, EDITED)
        path = jekyll_copy / EDITED
        text = path.read_text()
        old = "To use a Collection you first need to define it"
        assert text.count(old) == 1
        path.write_text(text.replace(old, "To use a Collection you must first define it"))
        after = section_inputs(jekyll_copy, EDITED)
        changed = sorted(set(after) - set(before))
        assert 0 < len(changed) < len(after)  # one section of a many-section post

        second = await run_job(temporal_client, settings, job_request(jekyll_copy, site=site))
    assert second["status"] == "completed", second
    assert sorted(openai_server.inputs[len(full) :]) == changed
    counts = second["counts"]
    assert counts["textEmbeddingsComputed"] == len(changed)
    assert counts["textEmbeddingsReused"] == counts["sections"] - len(changed)
    assert counts["mediaEmbeddingsComputed"] == 0
    assert counts["postsChanged"] == 1 and counts["postsUnchanged"] == counts["posts"] - 1
    assert counts["sectionsChanged"] == len(changed)
    assert counts["postsAdded"] == counts["postsRemoved"] == counts["sectionsRemoved"] == 0
    assert second["previousRevision"] == first["revision"] != second["revision"]
    assert await current_revision_id(db, site) == second["revision"]
    assert latest(settings)["revision"] == second["revision"]
    # The callback/result and the manifest both carry the change counts.
    manifest = published(settings, second, "manifest.json")
    assert manifest["counts"]["textEmbeddingsComputed"] == len(changed)
    assert manifest["counts"]["postsChanged"] == 1


async def test_a_tags_only_edit_sends_nothing(
    settings: Settings,
    temporal_client: Client,
    openai_server: FakeOpenAI,
    jekyll_copy: Path,
    db: asyncpg.Connection,
) -> None:
    settings = openai_settings(settings, openai_server, fresh_model())
    site = f"incr-tags-{uuid.uuid4().hex[:6]}"
    async with running_worker(settings, temporal_client):
        first = await run_job(temporal_client, settings, job_request(jekyll_copy, site=site))
        assert first["status"] == "completed", first
        full = len(openai_server.inputs)

        path = jekyll_copy / TAGGED
        text = path.read_text()
        assert text.startswith("---\ntitle: Front Matter\n")
        path.write_text(text.replace("---\n", "---\ntags: [incremental, metadata]\n", 1))

        second = await run_job(temporal_client, settings, job_request(jekyll_copy, site=site))
    assert second["status"] == "completed", second
    assert openai_server.inputs[full:] == []
    counts = second["counts"]
    assert sent(second) == 0
    assert counts["textEmbeddingsReused"] == counts["sections"]
    assert counts["postsChanged"] == 1 and counts["sectionsChanged"] == 0
    assert second["revision"] != first["revision"]
    assert await current_revision_id(db, site) == second["revision"]
    tags = await db.fetchval(
        "SELECT tags FROM posts WHERE site_id = $1 AND revision_id = $2 AND post_id = $3",
        site,
        second["revision"],
        TAGGED.removesuffix(".md"),
    )
    assert tags == ["incremental", "metadata"]
    [post] = [p for p in published(settings, second, "posts.json")["posts"] if p["path"] == TAGGED]
    assert post["tags"] == ["incremental", "metadata"]


async def test_a_deleted_post_and_image_leave_the_new_revision(
    settings: Settings,
    temporal_client: Client,
    openai_server: FakeOpenAI,
    jekyll_copy: Path,
    db: asyncpg.Connection,
) -> None:
    settings = openai_settings(settings, openai_server, fresh_model())
    site = f"incr-del-{uuid.uuid4().hex[:6]}"
    post_id = DELETED_POST.removesuffix(".md")
    async with running_worker(settings, temporal_client):
        first = await run_job(temporal_client, settings, job_request(jekyll_copy, site=site))
        assert first["status"] == "completed", first
        assert post_id in await current_post_ids(db, site)
        full = len(openai_server.inputs)
        (jekyll_copy / DELETED_POST).unlink()
        (jekyll_copy / DELETED_IMAGE).unlink()
        second = await run_job(temporal_client, settings, job_request(jekyll_copy, site=site))
    assert second["status"] == "completed", second
    assert openai_server.inputs[full:] == []  # a deletion embeds nothing
    counts = second["counts"]
    assert counts["postsRemoved"] == 1 and counts["mediaRemoved"] == 1
    assert counts["posts"] == first["counts"]["posts"] - 1

    # Postgres: the current revision has no trace of either.
    assert await current_revision_id(db, site) == second["revision"]
    assert post_id not in await current_post_ids(db, site)
    leftovers = await db.fetchval(
        """
        SELECT (SELECT count(*) FROM sections WHERE site_id = $1 AND revision_id = $2
                  AND post_id = $3)
             + (SELECT count(*) FROM media WHERE site_id = $1 AND revision_id = $2
                  AND (path = $4 OR $3 = ANY(post_ids)))
        """,
        site,
        second["revision"],
        post_id,
        DELETED_IMAGE,
    )
    assert leftovers == 0

    # The new artifacts: posts.json, search.json, media.json.
    posts = published(settings, second, "posts.json")["posts"]
    assert post_id not in {p["id"] for p in posts}
    entries = published(settings, second, "search.json")["entries"]
    assert not [e for e in entries if e["post_id"] == post_id or e["id"] == DELETED_IMAGE]
    media = published(settings, second, "media.json")["media"]
    assert DELETED_IMAGE not in {m["path"] for m in media}
    assert len(media) == len(published(settings, first, "media.json")["media"]) - 1
    assert latest(settings)["revision"] == second["revision"]

    # The previous revision is untouched: still in Postgres and in its own artifacts.
    assert (await revision_counts(db, site, first["revision"]))["posts"] == (
        first["counts"]["posts"]
    )
    assert post_id in {p["id"] for p in published(settings, first, "posts.json")["posts"]}


async def test_a_new_model_name_re_embeds_everything(
    settings: Settings,
    temporal_client: Client,
    openai_server: FakeOpenAI,
    jekyll_copy: Path,
) -> None:
    site = f"incr-model-{uuid.uuid4().hex[:6]}"
    first_settings = openai_settings(settings, openai_server, fresh_model())
    async with running_worker(first_settings, temporal_client):
        first = await run_job(temporal_client, first_settings, job_request(jekyll_copy, site=site))
        assert first["status"] == "completed", first
        full = list(openai_server.inputs)
        again = await run_job(temporal_client, first_settings, job_request(jekyll_copy, site=site))
    # Same model, same source: the revision is reused whole, nothing sent.
    assert again["unchanged"] is True and openai_server.inputs == full
    requests_before = len(openai_server.embedding_requests())

    new_model = fresh_model()
    second_settings = openai_settings(settings, openai_server, new_model)
    async with running_worker(second_settings, temporal_client):
        second = await run_job(
            temporal_client, second_settings, job_request(jekyll_copy, site=site)
        )
    assert second["status"] == "completed", second
    resent = openai_server.inputs[len(full) :]
    assert sorted(resent) == sorted(full)  # every input, once more
    counts = second["counts"]
    for kind in ("text", "media"):  # "reused" only by duplicates within a batch, as when cold
        reused = f"{kind}EmbeddingsReused"
        assert counts[reused] == first["counts"][reused], reused
    assert sent(second) == sent(first) == len(resent)
    assert {r.body["model"] for r in openai_server.embedding_requests()[requests_before:]} == {
        new_model
    }
    assert second["embedding"]["model"] == new_model
    # Images are embedded again too (by alt text and file name: no vision model here).
    assert counts["mediaEmbeddingsComputed"] == first["counts"]["mediaEmbeddingsComputed"] > 0


async def test_nothing_changed_reuses_the_revision_without_building_it(
    settings: Settings,
    temporal_client: Client,
    openai_server: FakeOpenAI,
    jekyll_copy: Path,
    db: asyncpg.Connection,
) -> None:
    settings = openai_settings(settings, openai_server, fresh_model())
    site = f"incr-same-{uuid.uuid4().hex[:6]}"
    root = Path(settings.artifacts_location)
    async with running_worker(settings, temporal_client):
        first = await run_job(temporal_client, settings, job_request(jekyll_copy, site=site))
        assert first["status"] == "completed", first
        assert "unchanged" not in first
        before, requests = snapshot(root), len(openai_server.inputs)

        again = await run_job(temporal_client, settings, job_request(jekyll_copy, site=site))
        assert again["status"] == "completed", again
        assert again["unchanged"] is True and again["revision"] == first["revision"]
        assert len(openai_server.inputs) == requests  # nothing embedded
        assert again["artifacts"]["reused"] is True
        assert again["artifacts"]["files"] == first["artifacts"]["files"]
        # The row counts are the loaded revision's; no change counts: nothing was compared.
        for kind in ("posts", "sections", "media"):
            assert again["counts"][kind] == first["database"][kind], kind
        assert_unchanged(before, snapshot(root))

        # An edit, then the edit undone: the first revision is current again, still unbuilt.
        path = jekyll_copy / EDITED
        text = path.read_text()
        path.write_text(text + "\nOne more line.\n")
        edited = await run_job(temporal_client, settings, job_request(jekyll_copy, site=site))
        assert edited["status"] == "completed" and "unchanged" not in edited
        path.write_text(text)
        undone = await run_job(temporal_client, settings, job_request(jekyll_copy, site=site))
    assert undone["unchanged"] is True and undone["revision"] == first["revision"]
    assert undone["switch"]["switched"] is True
    assert undone["switch"]["previous_revision"] == edited["revision"]
    assert await current_revision_id(db, site) == first["revision"]
    assert latest(settings)["revision"] == first["revision"]
