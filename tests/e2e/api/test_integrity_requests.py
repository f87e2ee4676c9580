"""Issue 10, the request rows (4 and 5 validation, 9, 10, 11, 13), through the real API on the
real stack (Temporal dev server, pgserver Postgres, an in-process worker).

Each test first publishes a good job, takes the sha256 of every published file, sends the
hostile or careless request, and checks the answer (status, JSON, the message naming the
field or problem) and that no published file changed.
"""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import pytest_asyncio
from pressroom.api.jobs import start_job
from pressroom.api.requests import MAX_JSON_DEPTH, MAX_NUMBER_CHARS, job_input, parse_job_request
from pressroom.starter.worker import running_worker
from temporalio.client import Client, WorkflowExecutionStatus, WorkflowFailureError
from yarl import URL

from pressroom.config import Settings
from tests.published import assert_unchanged, snapshot


@dataclass
class Published:
    """A site with one completed job: its artifacts dir, files' digests and a post id."""

    artifacts: Path
    before: dict[str, str]
    site: str
    revision: str
    body: dict[str, Any]

    def assert_unchanged(self) -> None:
        assert_unchanged(self.before, snapshot(self.artifacts))


@dataclass
class Reply:
    status: int
    content_type: str
    body: dict[str, Any]


def good_body(repo: Path, site: str, **data: Any) -> dict[str, Any]:
    return {
        "jobId": f"int-{uuid.uuid4().hex[:12]}",
        "task": "process-all",
        "data": {"repoUrl": str(repo), "distFolder": "dist", "site": site, **data},
    }


async def call(method: str, url: str, *, json_body: Any = None, raw: bytes | None = None) -> Reply:
    """One request; `url` is sent exactly as written (percent escapes untouched)."""
    kwargs: dict[str, Any] = {}
    if raw is not None:
        kwargs = {"data": raw, "headers": {"Content-Type": "application/json"}}
    elif json_body is not None:
        kwargs = {"json": json_body}
    async with (
        aiohttp.ClientSession() as http,
        http.request(method, URL(url, encoded=True), **kwargs) as resp,
    ):
        text = await resp.text()
        try:
            body = json.loads(text)
        except ValueError:
            body = {"_text": text}
        return Reply(resp.status, resp.content_type, body)


def assert_400(reply: Reply, *names: str) -> None:
    """A JSON 400 whose message (or field) names each of `names`."""
    assert reply.status == 400, reply
    assert reply.content_type == "application/json", reply
    said = json.dumps(reply.body)
    for name in names:
        assert name in said, (name, reply.body)


@pytest_asyncio.fixture
async def published(
    api_url: str, settings: Settings, temporal_client: Client, worker: None, blog: Path
) -> AsyncIterator[Published]:
    """A good job posted through the API and completed: something to keep unchanged."""
    site = f"site-{uuid.uuid4().hex[:8]}"
    body = good_body(blog, site)
    reply = await call("POST", f"{api_url}/process", json_body=body)
    assert reply.status == 202, reply
    result = await temporal_client.get_workflow_handle(body["jobId"]).result()
    assert result["status"] == "completed", result
    artifacts = Path(settings.artifacts_url)
    before = snapshot(artifacts)
    assert any(p.endswith("/manifest.json") for p in before), before
    yield Published(artifacts, before, site, result["revision"], body)


async def start_unserved(client: Client, settings: Settings, body: dict[str, Any]) -> Settings:
    """Start `body`'s job on a task queue no worker serves yet (the API path, another queue):
    it stays pending until the caller runs a worker with the returned settings, if ever."""
    idle = settings.model_copy(update={"temporal_task_queue": f"idle-{uuid.uuid4().hex[:8]}"})
    request, parsed = parse_job_request(json.dumps(body).encode())
    await start_job(client, job_input(request, parsed, idle), idle.temporal_task_queue)
    return idle


async def assert_no_job(api_url: str, job_id: str) -> None:
    reply = await call("GET", f"{api_url}/jobs/{job_id}")
    assert reply.status == 404, reply


# --- rows 4 and 5: reserved names and non-normalised folders ------------------------------


async def test_row04_reserved_revision_id_and_site_are_400(
    api_url: str, published: Published, blog: Path
) -> None:
    for field, value in (
        ("revisionId", "latest.json"),
        ("revisionId", "manifest.json"),
        ("revisionId", "Search.JSON"),
        ("site", "latest.json"),
        ("site", "posts.json"),
        ("site", "media"),  # a site's default folder is its id
    ):
        body = good_body(blog, published.site)
        body["data"][field] = value
        reply = await call("POST", f"{api_url}/process", json_body=body)
        assert_400(reply, f"data.{field}", "reserved", value)
        assert reply.body["field"] == f"data.{field}"
        await assert_no_job(api_url, body["jobId"])
    published.assert_unchanged()


async def test_row05_non_normalised_or_reserved_dist_folder_is_400(
    api_url: str, published: Published, blog: Path
) -> None:
    for folder, said in (
        ("dist/", "normalised"),
        (f"dist/{published.revision}/", "normalised"),
        ("dist//x", "normalised"),
        ("./dist", "normalised"),
        ("dist/./x", "normalised"),
        ("dist/latest.json", "reserved"),
        ("dist/_work", "reserved"),
        ("_work", "reserved"),
        ("dist/.git", "reserved"),
        ("media", "reserved"),  # the store-root prefix of published images
        ("Media", "reserved"),
    ):
        body = good_body(blog, published.site, distFolder=folder)
        reply = await call("POST", f"{api_url}/process", json_body=body)
        assert_400(reply, "data.distFolder", said)
        assert reply.body["field"] == "data.distFolder"
        await assert_no_job(api_url, body["jobId"])
    trailing = await call(
        "POST", f"{api_url}/process", json_body=good_body(blog, published.site, distFolder="a/b/")
    )
    assert "did you mean 'a/b'" in trailing.body["error"]
    published.assert_unchanged()


# --- row 9: deep JSON and huge numbers ---------------------------------------------------------


async def test_row09_deep_json_is_400(api_url: str, published: Published) -> None:
    deep = b"[" * 100_000 + b"]" * 100_000
    reply = await call("POST", f"{api_url}/process", raw=deep)
    assert_400(reply, "nested deeper than", str(MAX_JSON_DEPTH))

    # Deep inside a field, within what json.loads parses by itself: refused, field named.
    nested = json.dumps(good_body(Path("/x"), published.site))[:-2]
    inner = ', "extra": ' + "[" * 200 + "]" * 200 + "}}"
    reply = await call("POST", f"{api_url}/process", raw=(nested + inner).encode())
    assert_400(reply, "nested deeper than", "data.extra")
    published.assert_unchanged()


async def test_row09_long_number_is_400(api_url: str, published: Published, blog: Path) -> None:
    for literal, field in (
        ("9" * 5000, "data.count"),
        ("-" + "1" * 4400, "data.count"),
        ("0." + "5" * 5000, "data.count"),
        ("1e999", "data.count"),
        ("NaN", "data.count"),
    ):
        text = json.dumps(good_body(blog, published.site))[:-2] + f', "count": {literal}' + "}}"
        reply = await call("POST", f"{api_url}/process", raw=text.encode())
        assert_400(reply, field)
        assert reply.body["field"] == field
    reply = await call("POST", f"{api_url}/process", raw=b'{"jobId": ' + b"7" * 5000 + b"}")
    assert_400(reply, "jobId", f"at most {MAX_NUMBER_CHARS}")
    published.assert_unchanged()


async def test_row09_other_malformed_bodies_are_json_400(
    api_url: str, published: Published
) -> None:
    for raw, said in (
        (b'{"jobId": "\xff"}', "UTF-8"),
        (b'{"jobId": "x", ', "malformed JSON"),
        (b'{"jobId": "a", "task": "process-all", "data": {"repoUrl": "/x\\ud800"}}', "surrogate"),
        (b"", "malformed JSON"),
        (b"[1, 2]", "JSON object"),
    ):
        reply = await call("POST", f"{api_url}/process", raw=raw)
        assert_400(reply, said)
    published.assert_unchanged()


async def test_row09_fine_bodies_still_work(
    api_url: str, published: Published, temporal_client: Client, blog: Path
) -> None:
    """Limits leave real bodies alone: a few levels of extra data, ordinary numbers."""
    body = good_body(blog, published.site)
    nest: Any = {"level": 1, "ts": 1_726_000_000_123, "ratio": 0.25, "big": 10**40}
    for _ in range(MAX_JSON_DEPTH - 4):
        nest = {"more": nest}
    body["data"]["clientMeta"] = nest
    reply = await call("POST", f"{api_url}/process", json_body=body)
    assert reply.status == 202, reply
    assert reply.body["ignored"] == ["data.clientMeta"]
    result = await temporal_client.get_workflow_handle(body["jobId"]).result()
    assert result["status"] == "completed"
    published.assert_unchanged()


# --- row 10: NUL and invalid UTF-8 in query and path parameters -----------------------------


async def test_row10_nul_or_bad_utf8_in_any_parameter_is_400(
    api_url: str, published: Published
) -> None:
    s = published.site
    found = await call("GET", f"{api_url}/search?q=winter+power&site={s}&mode=text")
    assert found.status == 200, found
    post_id = found.body["results"][0]["postId"]
    quoted = post_id.replace("/", "%2F")
    cases = [
        ("GET", f"/search?q=%00&site={s}", "q"),
        ("GET", f"/search?q=a%00b&site={s}", "q"),
        ("GET", f"/search?q=%ff&site={s}", "q"),
        ("GET", f"/search?q=winter&site={s}%00", "site"),
        ("GET", f"/search?q=winter&site=%ff{s}", "site"),
        ("GET", f"/search?q=winter&site={s}&tags=%00", "tags"),
        ("GET", f"/search?q=winter&site={s}&from=%c3%28", "from"),
        ("GET", f"/search?q%00=winter&site={s}", "query"),
        ("GET", f"/posts/{s}%00/{quoted}", "site"),
        ("GET", f"/posts/{s}/{quoted}%00", "post_id"),
        ("GET", f"/posts/{s}/{quoted}%ff/related", "post_id"),
        ("GET", f"/posts/%ff/{quoted}/related", "site"),
        ("GET", f"/media/{s}/assets/images/solar%00budget.png", "path"),
        ("GET", f"/media/{s}%00/assets/images/solar-budget.png", "site"),
        ("GET", f"/media/{s}/assets/%fe%ff/x.png", "path"),
        ("GET", "/jobs/a%00b", "job_id"),
        ("DELETE", "/jobs/a%ffb", "job_id"),
        ("GET", "/sites?x=%00", "x"),
        ("GET", "/?x=%ff", "x"),
        ("GET", "/static/app%00.js", "filename"),
        ("GET", "/healthz?probe=%00", "probe"),
        ("POST", "/process?x=%00", "x"),
    ]
    for method, path, parameter in cases:
        reply = await call(method, f"{api_url}{path}")
        assert_400(reply, parameter)
        assert reply.body["parameter"] == parameter, (path, reply.body)
        assert "NUL" in reply.body["error"] or "UTF-8" in reply.body["error"], reply.body

    # Real parameters, non-ASCII included, still work.
    for path in (
        f"/search?q=caf%C3%A9+winter&site={s}",
        f"/posts/{s}/{quoted}",
        f"/posts/{s}/{quoted}/related",
        "/sites",
    ):
        reply = await call("GET", f"{api_url}{path}")
        assert reply.status == 200, (path, reply)
    published.assert_unchanged()


async def test_row10_job_routes_refuse_impossible_ids(api_url: str, published: Published) -> None:
    for method in ("GET", "DELETE"):
        reply = await call(method, f"{api_url}/jobs/{'x' * 300}")
        assert_400(reply, "jobId")
        reply = await call(method, f"{api_url}/jobs/..%2F..%2Fetc")
        assert_400(reply, "jobId")
    published.assert_unchanged()


# --- row 11: unknown fields -------------------------------------------------------------------


async def test_row11_unknown_top_level_field_names_the_nearest(
    api_url: str, published: Published, blog: Path
) -> None:
    for typo, nearest in (
        ("callbackURL", "callbackUrl"),
        ("jobid", "jobId"),
        ("Data", "data"),
        ("tsak", "task"),
    ):
        body = good_body(blog, published.site)
        if typo.lower() != "callbackurl":
            key = nearest
            body[typo] = body.pop(key)
        else:
            body[typo] = "https://example.invalid/hook"
        reply = await call("POST", f"{api_url}/process", json_body=body)
        assert_400(reply, typo, nearest)
        assert reply.body["field"] == typo
        assert reply.body["didYouMean"] == nearest
        assert f"did you mean {nearest!r}" in reply.body["error"]
    body = good_body(blog, published.site)
    body["zzzzzz"] = 1
    reply = await call("POST", f"{api_url}/process", json_body=body)
    assert_400(reply, "zzzzzz", "callbackUrl")  # no near name: the known fields are listed
    assert "didYouMean" not in reply.body
    await assert_no_job(api_url, body["jobId"])
    published.assert_unchanged()


async def test_row11_unknown_data_fields_are_ignored_listed_and_logged(
    api_url: str,
    published: Published,
    temporal_client: Client,
    blog: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.WARNING, logger="pressroom.api")
    body = good_body(blog, published.site, branch="main", distfolder="elsewhere")
    reply = await call("POST", f"{api_url}/process", json_body=body)
    assert reply.status == 202, reply
    assert reply.body["ignored"] == ["data.branch", "data.distfolder"]
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert any(
        body["jobId"] in m and "data.branch" in m and "data.distfolder" in m for m in warnings
    ), warnings
    handle = temporal_client.get_workflow_handle(body["jobId"])
    history = await handle.fetch_history()
    started = history.events[0].workflow_execution_started_event_attributes
    job_input = json.loads(started.input.payloads[0].data)
    assert job_input["ignored_fields"] == ["data.branch", "data.distfolder"]
    assert (await handle.result())["status"] == "completed"

    clean = good_body(blog, published.site)
    reply = await call("POST", f"{api_url}/process", json_body=clean)
    assert reply.status == 202 and reply.body["ignored"] == []
    assert (await temporal_client.get_workflow_handle(clean["jobId"]).result())["status"]
    published.assert_unchanged()


# --- row 13: re-posting the id of a job that ended ---------------------------------------------


async def test_row13_reposting_a_cancelled_job_is_409(
    api_url: str, published: Published, settings: Settings, temporal_client: Client, blog: Path
) -> None:
    # Accepted while no worker serves its queue, cancelled, then run: it ends CANCELLED.
    body = good_body(blog, published.site)
    idle = await start_unserved(temporal_client, settings, body)
    assert (await call("DELETE", f"{api_url}/jobs/{body['jobId']}")).status == 202
    handle = temporal_client.get_workflow_handle(body["jobId"])
    async with running_worker(idle, temporal_client):
        with pytest.raises(WorkflowFailureError):
            await handle.result()
    assert (await handle.describe()).status == WorkflowExecutionStatus.CANCELED

    reply = await call("POST", f"{api_url}/process", json_body=body)
    assert reply.status == 409, reply
    assert reply.content_type == "application/json"
    assert reply.body["state"] == "cancelled"
    assert "new jobId" in reply.body["hint"] and "temporal workflow reset" in reply.body["hint"]
    runs = [w async for w in temporal_client.list_workflows(f"WorkflowId = '{body['jobId']}'")]
    assert len(runs) == 1
    published.assert_unchanged()


async def test_row13_reposting_a_failed_or_terminated_job_is_409(
    api_url: str,
    published: Published,
    settings: Settings,
    temporal_client: Client,
    tmp_path: Path,
) -> None:
    failing = good_body(tmp_path / "no-such-source", published.site)
    assert (await call("POST", f"{api_url}/process", json_body=failing)).status == 202
    with pytest.raises(WorkflowFailureError):
        await temporal_client.get_workflow_handle(failing["jobId"]).result()
    reply = await call("POST", f"{api_url}/process", json_body=failing)
    assert reply.status == 409, reply
    assert reply.body["state"] == "failed" and reply.body["execution"] == "failed"
    assert "new jobId" in reply.body["hint"]

    # Terminated by an operator: the same 409 (state failed, Temporal's word kept).
    terminated = good_body(tmp_path / "never-runs", published.site)
    await start_unserved(temporal_client, settings, terminated)
    await temporal_client.get_workflow_handle(terminated["jobId"]).terminate(reason="test")
    reply = await call("POST", f"{api_url}/process", json_body=terminated)
    assert reply.status == 409, reply
    assert reply.body["state"] == "failed" and reply.body["execution"] == "terminated"

    # A different body on an ended id stays the body conflict, with the state.
    changed = {**failing, "task": "parse-only"}
    reply = await call("POST", f"{api_url}/process", json_body=changed)
    assert reply.status == 409 and reply.body["state"] == "failed"
    assert "different request body" in reply.body["error"]
    published.assert_unchanged()


async def test_row13_reposting_a_completed_job_is_the_same_job(
    api_url: str, published: Published
) -> None:
    """The contract's idempotent retry: same body, same (completed) job; other body, 409."""
    reply = await call("POST", f"{api_url}/process", json_body=published.body)
    assert reply.status == 202, reply
    assert reply.body["created"] is False
    assert reply.body["state"] == "completed"
    changed = {**published.body, "data": {**published.body["data"], "revisionId": "other"}}
    reply = await call("POST", f"{api_url}/process", json_body=changed)
    assert reply.status == 409 and reply.body["state"] == "completed"
    published.assert_unchanged()
