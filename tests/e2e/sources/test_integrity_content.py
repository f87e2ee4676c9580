"""Issue 10, rows 6, 7, 8, 14, 15 and 16: one bad file is a per-file error (or a capped field a
warning), never a failed job; local sources are safe by default; post HTML is sanitised.

Every row test runs through the real API, the Temporal dev server, a worker and Postgres: it
publishes a good revision of a small site first, then sends the same site and distFolder with
the bad file(s) added, and proves the job completed with each bad file listed by its path and
that no file published before changed (sha256 of every file, before and after). Row 14's
refusal of a path outside SOURCE_ROOTS is the one whole-source refusal: that job fails, with a
reason naming the setting, and still changes nothing.
"""

from __future__ import annotations

import json
import os
import shutil
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from pydantic import SecretStr
from temporalio.client import Client, WorkflowFailureError

from pressroom.config import Settings
from pressroom.content.caps import FIELD_CAPS
from pressroom.content.media import unique_media_paths
from pressroom.content.posts import parse_post, unique_post_paths
from pressroom.content.sanitize import HtmlPolicy
from pressroom.models import MAX_INLINE_ERROR_BYTES, MAX_REASON_BYTES, ParseSummary
from pressroom.search.file import SearchFile
from pressroom.search.hits import HIT_CAPS, MARK_START, bounded_snippet, snippet_html
from pressroom.sources import SourceLimits
from pressroom.steps.env import StepEnv
from pressroom.steps.fetch import FetchInput, fetch_source
from pressroom.steps.parse import ParseInput, html_policy_for, parse_source
from pressroom.storage.local import LocalStore
from pressroom.storage.workstore import WorkKeys, read_post_errors
from tests.jobs import job_request
from tests.published import assert_unchanged, snapshot

# A one-pixel PNG: a real image for the media index.
PNG = bytes.fromhex(
    "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
    "1f15c4890000000d49444154789c6360000002000100e221bc330000000049454e44ae426082"
)


def good_site(root: Path) -> Path:
    """A small valid site: two posts and an image."""
    (root / "_posts").mkdir(parents=True)
    (root / "img").mkdir()
    (root / "_posts/2024-01-01-hello.md").write_text(
        "---\ntitle: Hello\ntags: [intro]\n---\nHello weather station.\n\n![mast](/img/mast.png)\n"
    )
    (root / "_posts/2024-01-02-wind.md").write_text(
        "---\ntitle: Wind\n---\n# Wind\n\nAnemometer readings every minute.\n"
    )
    (root / "img/mast.png").write_bytes(PNG)
    return root


async def post_job(
    api_url: str, body: dict[str, Any], headers: dict[str, str] | None = None
) -> tuple[int, dict[str, Any]]:
    async with aiohttp.ClientSession(headers=headers) as http:
        async with http.post(f"{api_url}/process", json=body) as resp:
            return resp.status, await resp.json()


async def run_via_api(
    api_url: str, client: Client, body: dict[str, Any], headers: dict[str, str] | None = None
) -> tuple[str, dict[str, Any]]:
    """Post the job and wait: ("completed", result) or ("failed", {"failure": reason})."""
    status, reply = await post_job(api_url, body, headers)
    assert status == 202, reply
    try:
        return "completed", await client.get_workflow_handle(body["jobId"]).result()
    except WorkflowFailureError as err:
        cause: BaseException | None = err
        while getattr(cause, "cause", None) is not None:
            cause = cause.cause  # type: ignore[union-attr]
        return "failed", {"failure": str(cause)}


async def parse_summary(client: Client, job_id: str) -> ParseSummary:
    """The parse step's result as recorded in the job's history (warnings included)."""
    history = await client.get_workflow_handle(job_id).fetch_history()
    scheduled: dict[int, str] = {}
    for event in history.events:
        if event.HasField("activity_task_scheduled_event_attributes"):
            attrs = event.activity_task_scheduled_event_attributes
            scheduled[event.event_id] = attrs.activity_type.name
        elif event.HasField("activity_task_completed_event_attributes"):
            done = event.activity_task_completed_event_attributes
            if scheduled.get(done.scheduled_event_id) == "parse_source":
                [summary] = await client.data_converter.decode(
                    done.result.payloads, [ParseSummary]
                )
                assert isinstance(summary, ParseSummary)
                return summary
    raise AssertionError(f"no parse_source result in the history of {job_id}")


def _id(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def published_posts(artifacts: Path, result: dict[str, Any]) -> list[dict[str, Any]]:
    base = Path(result["artifacts"]["base"].removeprefix("file://"))
    assert base.is_relative_to(artifacts)
    return json.loads((base / "posts.json").read_text())["posts"]


@pytest.fixture
def artifacts(settings: Settings) -> Path:
    assert settings.artifacts_url is not None
    return Path(settings.artifacts_url)


async def publish_good(
    api_url: str, client: Client, root: Path, site: str, dist: str, **kw: Any
) -> dict[str, Any]:
    body = job_request(good_site(root), job_id=_id("good"), site=site, dist=dist)
    state, result = await run_via_api(api_url, client, body, **kw)
    assert state == "completed", result
    assert result["errorCount"] == 0, result["errors"]
    return result


def errors_by_path(result: dict[str, Any]) -> dict[str, str]:
    return {e["path"]: e["reason"] for e in result["errors"]}


# --- row 6: a 3 MB YAML tag --------------------------------------------------------------------


async def test_row06_huge_yaml_tag_is_a_bounded_per_post_error(
    api_url: str, worker: None, temporal_client: Client, artifacts: Path, tmp_path: Path
) -> None:
    site, dist = _id("r6"), _id("r6")
    await publish_good(api_url, temporal_client, tmp_path / "good", site, dist)
    before = snapshot(artifacts)

    root = good_site(tmp_path / "bad")
    posts = root / "_posts"
    # Over the front matter limit: refused before YAML reads it.
    (posts / "2024-02-01-three-mb-tag.md").write_text(
        "---\ntitle: !" + "a" * (3 * 1024 * 1024) + "\n---\nbody\n"
    )
    # Under it: YAML's own error quotes the 300 KB tag; the reason is cut to 1 KiB.
    for i in range(20):
        (posts / f"2024-02-02-big-tag-{i:02d}.md").write_text(
            "---\ntitle: !" + "b" * (300 * 1024) + "\n---\nbody\n"
        )
    for i in range(40):
        (posts / f"2024-02-03-broken-{i:02d}.md").write_text("---\ntitle: [unclosed\n---\nx\n")
    body = job_request(root, job_id=_id("bad"), site=site, dist=dist)
    state, result = await run_via_api(api_url, temporal_client, body)

    assert state == "completed", result
    assert result["errorCount"] == 61
    errors = errors_by_path(result)
    assert "front matter is" in errors["_posts/2024-02-01-three-mb-tag.md"]
    assert "over the limit" in errors["_posts/2024-02-01-three-mb-tag.md"]
    assert "truncated" in errors["_posts/2024-02-02-big-tag-00.md"]
    for reason in errors.values():
        assert len(reason.encode()) <= MAX_REASON_BYTES
    # The inline list is bounded in bytes (and count); the parse step counted every error.
    inline = sum(len(e["path"].encode()) + len(e["reason"].encode()) for e in result["errors"])
    assert inline <= MAX_INLINE_ERROR_BYTES and len(result["errors"]) < 61
    parsed = await parse_summary(temporal_client, body["jobId"])
    assert parsed.error_count == 61
    assert result["counts"]["posts"] == 2
    assert_unchanged(before, snapshot(artifacts))


async def test_row06_full_error_list_is_in_the_work_store(tmp_path: Path) -> None:
    """Past the inline budget, every error is still in `parsed/errors.jsonl`, read back with
    workstore.read_post_errors (where the publish side picks the full list up)."""
    root = good_site(tmp_path / "src")
    for i in range(120):
        (root / f"_posts/2024-03-01-broken-{i:03d}.md").write_text("+++\ntitle = \n+++\nx\n")
    store = LocalStore(tmp_path / "store")
    keys = WorkKeys("job-full-list")
    limits = SourceLimits(max_total_bytes=10**8, max_files=1000, max_file_bytes=10**7)
    await fetch_source(
        FetchInput(str(root), limits), StepEnv(store=store, keys=keys, scratch=tmp_path / "fetch")
    )
    summary = await parse_source(
        ParseInput(batch_size=64), StepEnv(store=store, keys=keys, scratch=tmp_path / "parse")
    )
    assert summary.error_count == 120 and len(summary.errors) <= 50
    full = await read_post_errors(store, keys.errors, tmp_path / "errors.jsonl")
    assert sorted(e.path for e in full) == [
        f"_posts/2024-03-01-broken-{i:03d}.md" for i in range(120)
    ]
    assert await read_post_errors(store, keys.warnings, tmp_path / "w.jsonl") == []


# --- row 7: a file name that is not UTF-8 --------------------------------------------------------


async def test_row07_non_utf8_name_is_a_file_error(
    api_url: str, worker: None, temporal_client: Client, artifacts: Path, tmp_path: Path
) -> None:
    site, dist = _id("r7"), _id("r7")
    await publish_good(api_url, temporal_client, tmp_path / "good", site, dist)
    before = snapshot(artifacts)

    root = good_site(tmp_path / "bad")
    posts = os.fsencode(root / "_posts")
    with open(posts + b"/2024-02-01-caf\xe9.md", "wb") as fh:
        fh.write(b"---\ntitle: Latin-1 name\n---\nbody\n")
    with open(os.fsencode(root / "img") + b"/m\xe2t.png", "wb") as fh:
        fh.write(PNG)
    body = job_request(root, job_id=_id("bad"), site=site, dist=dist)
    state, result = await run_via_api(api_url, temporal_client, body)

    assert state == "completed", result
    errors = errors_by_path(result)
    assert "not valid UTF-8" in errors["_posts/2024-02-01-caf\\xe9.md"]
    assert "not valid UTF-8" in errors["img/m\\xe2t.png"]
    assert result["errorCount"] == 2
    assert result["counts"]["posts"] == 2 and result["counts"]["media"] == 1
    assert_unchanged(before, snapshot(artifacts))


# --- row 8: two files, one post id ------------------------------------------------------------


async def test_row08_duplicate_post_ids_are_per_post_errors(
    api_url: str, worker: None, temporal_client: Client, artifacts: Path, tmp_path: Path
) -> None:
    site, dist = _id("r8"), _id("r8")
    await publish_good(api_url, temporal_client, tmp_path / "good", site, dist)
    before = snapshot(artifacts)

    root = good_site(tmp_path / "bad")
    (root / "_posts/2024-02-01-a.md").write_text("---\ntitle: A md\n---\nfirst\n")
    (root / "_posts/2024-02-01-a.markdown").write_text("---\ntitle: A markdown\n---\nsecond\n")
    (root / "notes").mkdir()
    (root / "notes/b.md").write_text("slash\n")
    (root / "notes\\b.md").write_text("backslash\n")  # one file named `notes\b.md`
    (root / "guide.md").write_text("plain\n")
    (root / "guide").mkdir()
    (root / "guide/index.md").write_text("bundle\n")
    (root / "img\\mast.png").write_bytes(PNG)  # collides with img/mast.png on Windows
    body = job_request(root, job_id=_id("bad"), site=site, dist=dist)
    state, result = await run_via_api(api_url, temporal_client, body)

    assert state == "completed", result
    errors = errors_by_path(result)
    pairs = {
        "_posts/2024-02-01-a.md": "_posts/2024-02-01-a.markdown",
        "notes\\b.md": "notes/b.md",
        "guide/index.md": "guide.md",
        "img\\mast.png": "img/mast.png",
    }
    for dropped, kept in pairs.items():
        assert "duplicate" in errors[dropped], errors
        assert repr(kept) in errors[dropped]
    assert result["errorCount"] == len(pairs)
    ids = [p["id"] for p in published_posts(artifacts, result)]
    assert len(ids) == len(set(ids)) == result["counts"]["posts"] == 5
    assert result["database"]["posts"] == 5  # loaded: no UniqueViolation
    assert_unchanged(before, snapshot(artifacts))


def test_row08_the_first_file_in_path_order_keeps_an_id_whatever_the_listing_order() -> None:
    paths = ["b/index.md", "a.md", "b.markdown", "a.markdown", "c\\d.md", "c/d.md", "x.md"]
    expected = (["a.markdown", "b.markdown", "c/d.md", "x.md"], ["a.md", "b/index.md", "c\\d.md"])
    for order in (paths, sorted(paths), list(reversed(paths))):
        kept, errors = unique_post_paths(order)
        assert (kept, sorted(e.path for e in errors)) == expected
    kept, errors = unique_media_paths(["img\\a.png", "img/a.png", "/img/b.png"])
    assert kept == ["/img/b.png", "img/a.png"] and [e.path for e in errors] == ["img\\a.png"]


# --- row 14: hard links and local paths -------------------------------------------------------


async def test_row14_hard_link_in_a_local_source_is_a_file_error(
    api_url: str, worker: None, temporal_client: Client, artifacts: Path, tmp_path: Path
) -> None:
    site, dist = _id("r14"), _id("r14")
    await publish_good(api_url, temporal_client, tmp_path / "good", site, dist)
    before = snapshot(artifacts)

    secret = tmp_path / "outside" / "credentials.md"
    secret.parent.mkdir()
    secret.write_text("---\ntitle: leaked\n---\nHARDLINK-SECRET-7f3a\n")
    root = good_site(tmp_path / "bad")
    os.link(secret, root / "_posts/2024-02-01-leak.md")
    body = job_request(root, job_id=_id("bad"), site=site, dist=dist)
    state, result = await run_via_api(api_url, temporal_client, body)

    assert state == "completed", result
    errors = errors_by_path(result)
    assert "hard links" in errors["_posts/2024-02-01-leak.md"]
    assert result["counts"]["posts"] == 2
    for path in artifacts.rglob("*"):
        if path.is_file():
            assert b"HARDLINK-SECRET-7f3a" not in path.read_bytes(), path
    assert_unchanged(before, snapshot(artifacts))


@asynccontextmanager
async def serving(settings: Settings, client: Client) -> AsyncIterator[str]:
    """A worker and the API, both with `settings` (the fixtures use the plain ones)."""
    from pressroom.api.app import create_app
    from pressroom.starter.worker import running_worker

    async with running_worker(settings, client):
        runner = web.AppRunner(create_app(settings, client))
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", 0).start()
        try:
            yield f"http://127.0.0.1:{runner.addresses[0][1]}"
        finally:
            await runner.cleanup()


async def test_row14_local_paths_outside_source_roots_are_refused_with_api_tokens(
    settings: Settings, temporal_client: Client, artifacts: Path, tmp_path: Path
) -> None:
    roots = tmp_path / "sources"
    guarded = settings.model_copy(
        update={"api_tokens": SecretStr("tok-row14-abc"), "source_roots": [roots]}
    )
    assert guarded.resolved_local_sources == "roots"
    auth = {"Authorization": "Bearer tok-row14-abc"}
    site, dist = _id("r14"), _id("r14")
    async with serving(guarded, temporal_client) as url:
        await publish_good(url, temporal_client, roots / "good", site, dist, headers=auth)
        before = snapshot(artifacts, include_latest=True)

        outside = good_site(tmp_path / "elsewhere")
        body = job_request(outside, job_id=_id("out"), site=site, dist=dist)
        state, result = await run_via_api(url, temporal_client, body, headers=auth)
        assert state == "failed", result
        assert "outside the allowed source roots (SOURCE_ROOTS)" in result["failure"]
        # A symlink under a root is judged by its target.
        (roots / "link").symlink_to(outside, target_is_directory=True)
        body = job_request(roots / "link", job_id=_id("link"), site=site, dist=dist)
        state, result = await run_via_api(url, temporal_client, body, headers=auth)
        assert state == "failed", result
        assert "SOURCE_ROOTS" in result["failure"]
        assert_unchanged(before, snapshot(artifacts, include_latest=True))

    # API tokens and no SOURCE_ROOTS: no local source at all, and the reason says why.
    no_roots = guarded.model_copy(update={"source_roots": []})
    async with serving(no_roots, temporal_client) as url:
        body = job_request(roots / "good", job_id=_id("none"), site=site, dist=dist)
        state, result = await run_via_api(url, temporal_client, body, headers=auth)
        assert state == "failed", result
        assert "LOCAL_SOURCES=roots" in result["failure"]
        assert "API_TOKENS" in result["failure"]
    # LOCAL_SOURCES=off refuses even a path under a root.
    off = guarded.model_copy(update={"local_sources": "off"})
    async with serving(off, temporal_client) as url:
        body = job_request(roots / "good", job_id=_id("off"), site=site, dist=dist)
        state, result = await run_via_api(url, temporal_client, body, headers=auth)
        assert state == "failed", result
        assert "LOCAL_SOURCES=off" in result["failure"]
    assert_unchanged(before, snapshot(artifacts, include_latest=True))


def test_row14_local_sources_default_follows_api_tokens() -> None:
    assert Settings().resolved_local_sources == "any"  # make demo, tests
    assert Settings(api_tokens=SecretStr("t")).resolved_local_sources == "roots"
    assert Settings(api_tokens=SecretStr("t"), local_sources="any").resolved_local_sources == "any"


# --- row 15: a 1 MB title ----------------------------------------------------------------------


async def test_row15_long_fields_are_capped_with_a_warning_and_hits_stay_small(
    api_url: str, worker: None, temporal_client: Client, artifacts: Path, tmp_path: Path
) -> None:
    site, dist = _id("r15"), _id("r15")
    await publish_good(api_url, temporal_client, tmp_path / "good", site, dist)
    before = snapshot(artifacts)

    root = good_site(tmp_path / "bad")
    tags = ", ".join(f"tag{i}" for i in range(500))
    long_word = "z" * (300 * 1024)
    (root / "_posts/2024-02-01-huge-title.md").write_text(
        f"---\ntitle: Barometer {'t' * 1_000_000}\ntags: [{tags}]\n"
        f"description: {'d' * 200_000}\n---\n"
        f"Barometer pressure {long_word} barometer readings.\n"
    )
    body = job_request(root, job_id=_id("bad"), site=site, dist=dist)
    state, result = await run_via_api(api_url, temporal_client, body)

    assert state == "completed", result
    assert result["errorCount"] == 0
    warnings = {w["path"]: w["reason"] for w in result["warnings"]}
    reason = warnings["_posts/2024-02-01-huge-title.md"]
    assert "title cut from" in reason and "tags cut from 500" in reason
    assert result["warningCount"] == 1
    # The parse step's own result says the same.
    parsed = await parse_summary(temporal_client, body["jobId"])
    assert [w.path for w in parsed.warnings] == ["_posts/2024-02-01-huge-title.md"]
    post = next(
        p for p in published_posts(artifacts, result) if p["path"].endswith("huge-title.md")
    )
    assert len(post["title"]) == FIELD_CAPS["title"]
    assert len(post["tags"]) == FIELD_CAPS["term_count"]
    assert len(post["description"]) <= FIELD_CAPS["description"]

    async with aiohttp.ClientSession() as http:
        params = {"q": "barometer", "site": site, "mode": "text"}
        async with http.get(f"{api_url}/search", params=params) as resp:
            assert resp.status == 200
            raw = await resp.read()
    hits = json.loads(raw)["results"]
    assert hits, "the post is found"
    assert len(raw) < 64 * 1024
    for hit in hits:
        assert len(hit["title"]) <= HIT_CAPS["title"]
        for section in hit["sections"]:
            assert len(section["snippet"]) <= HIT_CAPS["snippet"]
    assert_unchanged(before, snapshot(artifacts))


def test_row15_search_file_and_snippets_are_bounded() -> None:
    """Hits from a search.json stay bounded even when the file holds a megabyte title (a
    revision published before the caps); a cut marked snippet keeps its highlight closed."""
    huge = "Barometer " + "t" * 1_000_000
    document = {
        "format": "pressroom.search/1",
        "site": "s",
        "revision": "r",
        "entries": [
            {
                "kind": "section",
                "id": "p#",
                "post_id": "p",
                "title": huge,
                "heading": huge,
                "text": "barometer " + "w" * 500_000 + " more words",
                "tags": ["x" * 10_000] * 100,
            }
        ],
    }
    hits = SearchFile(document).search("barometer", mode="text")["results"]
    assert hits
    assert len(hits[0]["title"]) <= HIT_CAPS["title"]
    assert len(hits[0]["tags"]) <= HIT_CAPS["tags"]
    assert all(len(t) <= HIT_CAPS["tag"] for t in hits[0]["tags"])
    section = hits[0]["sections"][0]
    assert len(section["heading"]) <= HIT_CAPS["heading"]
    assert len(section["snippet"]) <= HIT_CAPS["snippet"]
    marked = bounded_snippet(f"{MARK_START}{'q' * 5000}\ue001")
    assert snippet_html(marked).count("<mark>") == snippet_html(marked).count("</mark>") == 1


# --- row 16: scripts and event handlers in a post ------------------------------------------------

HOSTILE_HTML = """---
title: Embeds
---
## Setup {#setup}

<script>alert('x')</script>
<img src="/img/mast.png" onerror="alert(1)" alt="mast" width="1" loading="lazy">
<a href="javascript:alert(2)">click</a> <a href="https://example.org" rel="nofollow">ok</a>
<iframe src="https://www.youtube-nocookie.com/embed/abc" allowfullscreen></iframe>
<iframe src="https://evil.example/frame"></iframe>
<div onclick="steal()" style="position:fixed">overlay</div>

| left | right |
|:-----|------:|
| 1    | 2     |

```python
print("hi")
```

<details><summary>More</summary>Hidden</details>
"""


async def test_row16_post_html_is_sanitised(
    api_url: str, worker: None, temporal_client: Client, artifacts: Path, tmp_path: Path
) -> None:
    site, dist = _id("r16"), _id("r16")
    await publish_good(api_url, temporal_client, tmp_path / "good", site, dist)
    before = snapshot(artifacts)

    root = good_site(tmp_path / "bad")
    (root / "_posts/2024-02-01-embeds.md").write_text(HOSTILE_HTML)
    body = job_request(root, job_id=_id("bad"), site=site, dist=dist)
    state, result = await run_via_api(api_url, temporal_client, body)

    assert state == "completed", result
    post = next(p for p in published_posts(artifacts, result) if p["title"] == "Embeds")
    html = post["html"]
    for gone in ("<script", "alert(", "onerror", "onclick", "javascript:", "evil.example",
                 "position:fixed"):  # fmt: skip
        assert gone not in html, (gone, html)
    for kept in ('<h2 id="setup">', 'alt="mast"', 'loading="lazy"', 'rel="nofollow"',
                 'src="https://www.youtube-nocookie.com/embed/abc"', "<table>",
                 'style="text-align:right"', 'class="language-python"', "<details>",
                 "<summary>More</summary>"):  # fmt: skip
        assert kept in html, (kept, html)
    assert_unchanged(before, snapshot(artifacts))


def test_row16_sanitize_html_off_keeps_html_verbatim(tmp_path: Path) -> None:
    """SANITIZE_HTML=false (a trusted single-owner site) keeps the author's HTML as written;
    IFRAME_HOSTS decides which iframes keep their src."""
    data = HOSTILE_HTML.encode()
    verbatim = parse_post("a.md", data, html_policy=html_policy_for(Settings(sanitize_html=False)))
    assert "<script>alert('x')</script>" in verbatim.html and 'onerror="alert(1)"' in verbatim.html
    only_evil = HtmlPolicy(iframe_hosts=("evil.example",))
    html = parse_post("a.md", data, html_policy=only_evil).html
    assert 'src="https://evil.example/frame"' in html and "youtube" not in html


async def test_row16_policy_reaches_parse_processes(tmp_path: Path) -> None:
    """The HTML policy is the same in the worker's thread and in parse child processes."""
    root = tmp_path / "src"
    (root / "p").mkdir(parents=True)
    for i in range(6):
        (root / f"p/post-{i}.md").write_text(HOSTILE_HTML)
    store = LocalStore(tmp_path / "store")
    keys = WorkKeys("job-policy")
    limits = SourceLimits(max_total_bytes=10**8, max_files=1000, max_file_bytes=10**7)
    await fetch_source(
        FetchInput(str(root), limits), StepEnv(store=store, keys=keys, scratch=tmp_path / "f")
    )
    import pressroom.steps.parse as parse_step

    for sanitize in (True, False):
        scratch = tmp_path / f"parse-{sanitize}"
        old = parse_step.PROCESS_POOL_MIN_POSTS
        parse_step.PROCESS_POOL_MIN_POSTS = 1  # children even for six posts
        try:
            await parse_source(
                ParseInput(batch_size=8, processes=3, html_policy=HtmlPolicy(sanitize=sanitize)),
                StepEnv(store=store, keys=keys, scratch=scratch),
            )
        finally:
            parse_step.PROCESS_POOL_MIN_POSTS = old
        posts = (tmp_path / "store" / keys.posts).read_text().splitlines()
        assert len(posts) == 6
        assert all(("<script>" in json.loads(p)["html"]) is not sanitize for p in posts)
    shutil.rmtree(tmp_path / "store")
