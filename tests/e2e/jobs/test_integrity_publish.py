"""Issue 10, rows 1-5 and 12: sites own their folders, published revisions are immutable,
reserved names are refused, and a refused callback is reported, through the real API, the
Temporal dev server, a worker and Postgres. Every test proves that no file published before
the hostile or careless request changed (sha256 of every file, before and after).
"""

from __future__ import annotations

import json
import shutil
import uuid
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from temporalio.client import Client, WorkflowFailureError

from pressroom.config import Settings
from tests.conftest import EXAMPLE_BLOG
from tests.jobs import job_request, start
from tests.published import assert_unchanged, snapshot


def blog_copy(tmp_path: Path, name: str = "blog") -> Path:
    dest = tmp_path / name
    shutil.copytree(EXAMPLE_BLOG, dest)
    return dest


def edit_first_post(root: Path, text: str) -> None:
    post = sorted(root.rglob("*.md"))[0]
    post.write_text(post.read_text() + f"\n\n{text}\n")


async def post_job(api_url: str, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    async with aiohttp.ClientSession() as http:
        async with http.post(f"{api_url}/process", json=body) as resp:
            return resp.status, await resp.json()


async def run_via_api(
    api_url: str, client: Client, body: dict[str, Any]
) -> tuple[str, dict[str, Any]]:
    """Post the job, wait for it; ('completed', result) or ('failed', {'failure': reason})."""
    status, reply = await post_job(api_url, body)
    assert status == 202, reply
    try:
        result = await client.get_workflow_handle(body["jobId"]).result()
    except WorkflowFailureError as err:
        cause: BaseException | None = err
        while getattr(cause, "cause", None) is not None:
            cause = cause.cause  # type: ignore[union-attr]
        return "failed", {"failure": str(cause)}
    return "completed", result


async def job_view(api_url: str, job_id: str) -> dict[str, Any]:
    async with aiohttp.ClientSession() as http:
        async with http.get(f"{api_url}/jobs/{job_id}") as resp:
            assert resp.status == 200
            return await resp.json()


def latest(artifacts: Path, folder: str) -> dict[str, Any]:
    return json.loads((artifacts / folder / "latest.json").read_text())


def reported_files_match(artifacts: Path, result: dict[str, Any]) -> None:
    """Every file the job reported is in its revision folder with the reported bytes."""
    base = Path(result["artifacts"]["base"].removeprefix("file://"))
    held = snapshot(base)  # once: hashing the folder per file would redo the same reads
    for name, meta in result["artifacts"]["files"].items():
        assert held[name] == meta["sha256"], name
    assert base.is_relative_to(artifacts)


@pytest.fixture
def artifacts(settings: Settings) -> Path:
    assert settings.artifacts_url is not None
    return Path(settings.artifacts_url)


def _id(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


async def test_row01_second_site_cannot_take_a_folder(
    api_url: str, worker: None, temporal_client: Client, settings: Settings, artifacts: Path,
    tmp_path: Path,
) -> None:
    a = job_request(blog_copy(tmp_path, "a"), job_id=_id("a"), site="site-a", dist="shared")
    state, result = await run_via_api(api_url, temporal_client, a)
    assert state == "completed", result
    before = snapshot(artifacts, include_latest=True)

    b = job_request(blog_copy(tmp_path, "b"), job_id=_id("b"), site="site-b", dist="shared")
    status, reply = await post_job(api_url, b)
    assert status == 409, reply
    assert reply["field"] == "data.distFolder" and reply["owner"] == "site-a"

    # Started without the API (CLI, scripts): the job itself refuses before publishing.
    await start(temporal_client, settings, b)
    with pytest.raises(WorkflowFailureError):
        await temporal_client.get_workflow_handle(b["jobId"]).result()
    view = await job_view(api_url, b["jobId"])
    assert "belongs to site 'site-a'" in view["failure"]
    assert_unchanged(before, snapshot(artifacts, include_latest=True))
    assert latest(artifacts, "shared")["site"] == "site-a"


async def test_row01_default_folder_is_per_site(
    api_url: str, worker: None, temporal_client: Client, artifacts: Path, tmp_path: Path
) -> None:
    bodies = []
    for site in ("alpha", "beta"):
        body = job_request(blog_copy(tmp_path, site), job_id=_id(site), site=site)
        del body["data"]["distFolder"]
        state, result = await run_via_api(api_url, temporal_client, body)
        assert state == "completed", result
        bodies.append(result)
    assert latest(artifacts, "alpha")["site"] == "alpha"
    assert latest(artifacts, "beta")["site"] == "beta"
    assert not (artifacts / "dist" / "latest.json").exists()


async def test_row01_folder_published_before_claims_is_adopted_for_its_site(
    api_url: str, worker: None, temporal_client: Client, settings: Settings, artifacts: Path,
    tmp_path: Path,
) -> None:
    """Migration: a folder whose latest.json names a site (written before ownership was
    recorded) belongs to that site."""
    legacy = artifacts / "legacy"
    legacy.mkdir(parents=True)
    (legacy / "latest.json").write_text(json.dumps({"site": "old-site", "revision": "r-1"}))
    before = snapshot(artifacts, include_latest=True)
    body = job_request(blog_copy(tmp_path), job_id=_id("new"), site="new-site", dist="legacy")
    state, result = await run_via_api(api_url, temporal_client, body)
    assert state == "failed" and "belongs to site 'old-site'" in result["failure"]
    assert_unchanged(before, snapshot(artifacts, include_latest=True))
    # Its own site publishes there as before.
    own = job_request(blog_copy(tmp_path, "own"), job_id=_id("own"), site="old-site",
                      dist="legacy")
    state, result = await run_via_api(api_url, temporal_client, own)
    assert state == "completed", result
    assert latest(artifacts, "legacy")["site"] == "old-site"


async def test_row02_parse_only_never_overwrites_a_full_revision(
    api_url: str, worker: None, temporal_client: Client, artifacts: Path, tmp_path: Path
) -> None:
    src = blog_copy(tmp_path)
    full = job_request(src, job_id=_id("full"), site="s2", dist="s2")
    state, first = await run_via_api(api_url, temporal_client, full)
    assert state == "completed", first
    before = snapshot(artifacts, include_latest=True)

    parse = job_request(src, job_id=_id("parse"), site="s2", dist="s2", task="parse-only")
    state, second = await run_via_api(api_url, temporal_client, parse)
    assert state == "completed", second
    assert second["revision"] != first["revision"]  # what a task builds is in the id
    assert_unchanged(before, snapshot(artifacts, include_latest=True))
    assert latest(artifacts, "s2")["revision"] == first["revision"]  # latest.json stays full
    reported_files_match(artifacts, second)


async def test_row02_same_job_again_reuses_the_published_revision(
    api_url: str, worker: None, temporal_client: Client, artifacts: Path, tmp_path: Path
) -> None:
    src = blog_copy(tmp_path)
    state, first = await run_via_api(
        api_url, temporal_client, job_request(src, job_id=_id("one"), site="s3", dist="s3")
    )
    assert state == "completed", first
    before = snapshot(artifacts)
    state, again = await run_via_api(
        api_url, temporal_client, job_request(src, job_id=_id("two"), site="s3", dist="s3")
    )
    assert state == "completed", again
    assert again["revision"] == first["revision"]
    assert again["artifacts"]["reused"] is True
    assert again["artifacts"]["files"] == first["artifacts"]["files"]
    assert_unchanged(before, snapshot(artifacts))


async def test_row03_reused_revision_id_with_other_content_is_refused(
    api_url: str, worker: None, temporal_client: Client, artifacts: Path, tmp_path: Path
) -> None:
    src = blog_copy(tmp_path)
    body = job_request(src, job_id=_id("v1"), site="s4", dist="s4")
    body["data"]["revisionId"] = "v1"
    state, first = await run_via_api(api_url, temporal_client, body)
    assert state == "completed", first
    before = snapshot(artifacts, include_latest=True)

    edit_first_post(src, "An edit after v1 was published.")
    again = job_request(src, job_id=_id("v1b"), site="s4", dist="s4")
    again["data"]["revisionId"] = "v1"
    state, result = await run_via_api(api_url, temporal_client, again)
    assert state == "failed"
    assert "already published" in result["failure"] and "immutable" in result["failure"]
    assert_unchanged(before, snapshot(artifacts, include_latest=True))
    view = await job_view(api_url, again["jobId"])
    # Refused at fetch: nothing after it ran.
    assert [s["state"] for s in view["steps"]][1:] == ["pending"] * (len(view["steps"]) - 1)


async def test_row04_reserved_revision_id_refused_even_without_the_api(
    api_url: str, worker: None, temporal_client: Client, settings: Settings, artifacts: Path,
    tmp_path: Path,
) -> None:
    src = blog_copy(tmp_path)
    state, first = await run_via_api(
        api_url, temporal_client, job_request(src, job_id=_id("ok"), site="s5", dist="s5")
    )
    assert state == "completed", first
    before = snapshot(artifacts, include_latest=True)
    body = job_request(src, job_id=_id("bad"), site="s5", dist="s5")
    body["data"]["revisionId"] = "latest.json"
    status, reply = await post_job(api_url, body)
    assert status == 400 and reply["field"] == "data.revisionId", reply
    # The workflow refuses it too when started by other means (JobInput built by hand).
    from pressroom.api.jobs import start_job
    from pressroom.api.requests import job_input, parse_job_request

    ok_body = dict(body, data=dict(body["data"], revisionId="fine"))
    request, parsed = parse_job_request(json.dumps(ok_body).encode())
    job = job_input(request, parsed, settings).model_copy(update={"revision_id": "latest.json"})
    await start_job(temporal_client, job, settings.temporal_task_queue)
    with pytest.raises(WorkflowFailureError):
        await temporal_client.get_workflow_handle(job.job_id).result()
    assert_unchanged(before, snapshot(artifacts, include_latest=True))
    # Later jobs to the folder still work.
    edit_first_post(src, "later")
    state, later = await run_via_api(
        api_url, temporal_client, job_request(src, job_id=_id("later"), site="s5", dist="s5")
    )
    assert state == "completed", later


async def test_row05_folder_inside_another_sites_revision_is_refused(
    api_url: str, worker: None, temporal_client: Client, artifacts: Path, tmp_path: Path
) -> None:
    state, first = await run_via_api(
        api_url,
        temporal_client,
        job_request(blog_copy(tmp_path), job_id=_id("a"), site="s6", dist="s6"),
    )
    assert state == "completed", first
    before = snapshot(artifacts, include_latest=True)
    inside = f"s6/{first['revision']}"
    for folder, expected in ((inside, 409), ("s6/", 400)):
        body = job_request(blog_copy(tmp_path, "x"), job_id=_id("x"), site="intruder",
                           dist=folder)
        status, reply = await post_job(api_url, body)
        assert status == expected, reply
        assert reply["field"] == "data.distFolder"
        shutil.rmtree(tmp_path / "x")
    # Around it: a folder holding another site's folder is refused as well.
    state, deep = await run_via_api(
        api_url,
        temporal_client,
        job_request(blog_copy(tmp_path, "d"), job_id=_id("d"), site="deep", dist="nest/inner"),
    )
    assert state == "completed", deep
    before = snapshot(artifacts, include_latest=True)
    body = job_request(blog_copy(tmp_path, "y"), job_id=_id("y"), site="wrapper", dist="nest")
    status, reply = await post_job(api_url, body)
    assert status == 409 and reply["owner"] == "deep", reply
    assert_unchanged(before, snapshot(artifacts, include_latest=True))


async def test_row12_refused_callback_is_reported(
    api_url: str, worker: None, temporal_client: Client, tmp_path: Path
) -> None:
    # A private address: the network guard refuses it (no traffic leaves the machine).
    body = job_request(
        blog_copy(tmp_path), job_id=_id("cb"), site="s7", dist="s7",
        callback_url="http://10.255.255.1/hook",
    )
    state, result = await run_via_api(api_url, temporal_client, body)
    assert state == "completed", result
    assert result["callback"]["state"] == "refused"
    assert "10.255.255.1" in result["callback"]["reason"] or "refused" in result["callback"][
        "reason"
    ]
    assert result["callback"]["attempts"] == 1
    view = await job_view(api_url, body["jobId"])
    assert view["callback"]["state"] == "refused"
    assert view["result"]["callback"] == result["callback"]


async def test_two_sites_three_revisions_interleaved_with_parse_only_and_reused_ids(
    api_url: str, worker: None, temporal_client: Client, artifacts: Path, tmp_path: Path
) -> None:
    """Done-when 3: two sites, three revisions each, with parse-only jobs, a pinned client
    revision id reused for new content and repeated jobs, all in flight together. Every
    latest.json names its own site's newest process-all revision; every revision folder
    holds exactly what its job reported; nothing published earlier ever changes."""
    sources = {site: blog_copy(tmp_path, site) for site in ("site-x", "site-y")}
    newest_full: dict[str, str] = {}
    completed: list[dict[str, Any]] = []
    refused: list[str] = []
    for round_no in range(1, 4):
        before = snapshot(artifacts)
        for site, src in sources.items():
            edit_first_post(src, f"Round {round_no} of {site}.")
        bodies: list[tuple[str, dict[str, Any]]] = []
        for site, src in sources.items():
            full = job_request(src, job_id=_id(f"{site}-full"), site=site, dist=site)
            parse = job_request(src, job_id=_id(f"{site}-p"), site=site, dist=site,
                                task="parse-only")
            pinned = job_request(src, job_id=_id(f"{site}-pin"), site=site, dist=site)
            pinned["data"]["revisionId"] = f"{site}-pinned"
            bodies += [("pinned", pinned), ("parse", parse), ("full", full)]
        # The pinned job goes first: the process-all of each round is its site's newest.
        outcomes = []
        for _, body in bodies:
            status, reply = await post_job(api_url, body)
            assert status == 202, reply
        for role, body in bodies:
            try:
                result = await temporal_client.get_workflow_handle(body["jobId"]).result()
            except WorkflowFailureError as err:
                outcomes.append((role, body, None, str(err.cause)))
                continue
            outcomes.append((role, body, result, None))
        for role, body, result, failure in outcomes:
            site = body["data"]["site"]
            if role == "pinned" and round_no > 1:
                assert result is None, "a pinned id reused for new content must be refused"
                refused.append(body["jobId"])
                continue
            assert result is not None, failure
            completed.append(result)
            if role == "full":
                newest_full[site] = result["revision"]
        assert_unchanged(before, snapshot(artifacts))
    assert len(refused) == 4
    for site in sources:
        pointer = latest(artifacts, site)
        assert pointer["site"] == site and pointer["revision"] == newest_full[site]
        assert pointer["kind"] == "full"
    for result in completed:
        reported_files_match(artifacts, result)


async def test_every_bad_file_is_in_the_published_errors_json(
    api_url: str, worker: None, temporal_client: Client, artifacts: Path, tmp_path: Path
) -> None:
    """The result carries the first errors; errors.json, published with the revision, all
    of them (the work store they came from is cleaned when the job completes)."""
    src = blog_copy(tmp_path)
    bad = [src / "broken" / f"bad-{i:03d}.md" for i in range(80)]
    bad[0].parent.mkdir()
    for path in bad:
        path.write_bytes(b"---\ntitle: [unclosed\n---\nbody\n")
    state, result = await run_via_api(
        api_url, temporal_client, job_request(src, job_id=_id("errs"), site="s8", dist="s8")
    )
    assert state == "completed", result
    assert result["errorCount"] == len(bad)
    assert 0 < len(result["errors"]) < len(bad)  # bounded inline
    base = Path(result["artifacts"]["base"].removeprefix("file://"))
    report = json.loads((base / "errors.json").read_text())
    assert report["site"] == "s8" and report["revision"] == result["revision"]
    assert sorted(e["path"] for e in report["errors"]) == [
        p.relative_to(src).as_posix() for p in bad
    ]
    assert report["counts"]["errors"] == len(bad)
    assert "errors.json" in result["artifacts"]["files"]
