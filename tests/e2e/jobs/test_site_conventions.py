"""End to end: a job over a copy of part of hugo-docs (its hugo.toml, a section, a page
bundle with images, the headless `_common` folder) publishes each post's URL and each image's,
says which profile it used in the result and the manifest, follows `data.profile` and
`data.baseUrl` when a job gives them, and its image hits link the site's URL and the
published copy from the database and from search.json alike."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from temporalio.client import Client

import pressroom.steps.parse as parse_step
from pressroom.config import Settings
from pressroom.search.file import SearchFile
from pressroom.sources import SourceLimits
from pressroom.steps.env import StepEnv
from pressroom.steps.fetch import FetchInput, fetch_source
from pressroom.steps.parse import ParseInput, parse_source
from pressroom.storage.local import LocalStore
from pressroom.storage.workstore import WorkKeys
from tests.conftest import CORPORA
from tests.jobs import job_request, run_job

HUGO = CORPORA / "hugo-docs"
PARTS = (
    "hugo.toml",
    "content/en/_common",
    "content/en/about",
    "content/en/host-and-deploy/_index.md",
    "content/en/host-and-deploy/host-on-github-pages",
)


def _hugo_copy(dest: Path) -> Path:
    for part in PARTS:
        src, out = HUGO / part, dest / part
        out.parent.mkdir(parents=True, exist_ok=True)
        if src.is_dir():
            shutil.copytree(src, out)
        else:
            shutil.copy2(src, out)
    return dest


def _published(settings: Settings, result: dict[str, Any]) -> dict[str, Any]:
    out = Path(settings.artifacts_location) / "dist" / result["revision"]
    return {
        name: json.loads((out / f"{name}.json").read_text())
        for name in ("posts", "media", "manifest")
    }


async def test_a_hugo_site_publishes_urls_and_says_which_profile(
    settings: Settings, worker: None, temporal_client: Client, tmp_path: Path
) -> None:
    site = _hugo_copy(tmp_path / "hugo")
    result = await run_job(temporal_client, settings, job_request(site, task="parse-only"))
    assert result["status"] == "completed", result
    profile = result["profile"]
    assert (profile["name"], profile["detected"], profile["config"]) == ("hugo", True, "hugo.toml")
    assert profile["baseUrl"] == "https://gohugo.io/"
    assert "content folder content/en (module mount)" in profile["contributed"]

    files = _published(settings, result)
    assert files["manifest"]["profile"]["name"] == "hugo"
    urls = {p["path"]: p["url"] for p in files["posts"]["posts"]}
    assert urls["content/en/about/features.md"] == "https://gohugo.io/about/features/"
    assert urls["content/en/host-and-deploy/_index.md"] == "https://gohugo.io/host-and-deploy/"
    assert urls["content/en/host-and-deploy/host-on-github-pages/index.md"] == (
        "https://gohugo.io/host-and-deploy/host-on-github-pages/"
    )
    common = [path for path in urls if path.startswith("content/en/_common/")]
    assert common and all(urls[path] is None for path in common)
    media = {m["path"]: m["url"] for m in files["media"]["media"]}
    image = "content/en/host-and-deploy/host-on-github-pages/gh-pages-01.png"
    assert media[image] == "https://gohugo.io/host-and-deploy/host-on-github-pages/gh-pages-01.png"


async def test_a_job_names_the_profile_and_base_url(
    settings: Settings, worker: None, temporal_client: Client, tmp_path: Path
) -> None:
    site = _hugo_copy(tmp_path / "hugo")
    body = job_request(site, task="parse-only", site="mirror")
    body["data"] |= {"profile": "plain", "baseUrl": "https://mirror.example.org/docs"}
    result = await run_job(temporal_client, settings, body)
    assert result["status"] == "completed", result
    assert (result["profile"]["name"], result["profile"]["detected"]) == ("plain", False)
    posts = _published(settings, result)["posts"]["posts"]
    urls = {p["path"]: p["url"] for p in posts}
    assert urls["content/en/about/features.md"] == (
        "https://mirror.example.org/docs/content/en/about/features"
    )


async def test_image_hits_link_the_sites_url_and_the_published_copy(
    settings: Settings, worker: None, temporal_client: Client, api_url: str, tmp_path: Path
) -> None:
    site = _hugo_copy(tmp_path / "hugo")
    body = job_request(site, site="hugo-media")
    body["data"]["publishMedia"] = True
    result = await run_job(temporal_client, settings, body)
    assert result["status"] == "completed", result
    published = _published(settings, result)
    media = {m["path"]: m for m in published["media"]["media"]}

    query = {"site": "hugo-media", "q": "screen capture", "kind": "images", "mode": "text"}
    async with aiohttp.ClientSession() as http:
        async with http.get(f"{api_url}/search", params=query) as resp:
            assert resp.status == 200
            images = (await resp.json())["images"]
    assert images, "the screenshots are found by their alt text"
    for image in images:
        item = media[image["path"]]
        assert image["url"] == item["url"] and image["url"].startswith("https://gohugo.io/")
        assert image["publishedUrl"] == item["published_url"]
        assert image["publishedUrl"].endswith(f"media/{item['sha256']}.png")

    out = Path(settings.artifacts_location) / "dist" / result["revision"]
    from_file = SearchFile.load(out / "search.json").search("screen capture", kind="images")
    by_path = {i["path"]: (i["url"], i["publishedUrl"]) for i in from_file["images"]}
    assert by_path == {i["path"]: (i["url"], i["publishedUrl"]) for i in images}


async def test_child_parse_processes_apply_the_same_profile(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A large tree is parsed in child processes too; each must place posts by the job's
    profile, not by a plain folder's rules."""
    site = _hugo_copy(tmp_path / "hugo")
    store = LocalStore(tmp_path / "store")
    keys = WorkKeys("job-profile-children")
    limits = SourceLimits(max_total_bytes=10**8, max_files=10_000, max_file_bytes=10**7)
    fetch_env = StepEnv(store=store, keys=keys, scratch=tmp_path / "fetch")
    await fetch_source(FetchInput(str(site), limits), fetch_env)
    monkeypatch.setattr(parse_step, "PROCESS_POOL_MIN_POSTS", 1)  # children even for a few
    parsed = await parse_source(
        ParseInput(batch_size=8, processes=3, base_url="https://docs.example.org/"),
        StepEnv(store=store, keys=keys, scratch=tmp_path / "parse"),
    )
    assert parsed.profile is not None and parsed.profile.name == "hugo"
    posts = [json.loads(line) for line in (tmp_path / "store" / keys.posts).open()]
    assert len(posts) == parsed.posts > 10
    for post in posts:
        if post["path"].startswith("content/en/_common/"):
            assert post["url"] is None
        else:
            assert post["url"].startswith("https://docs.example.org/"), post["path"]
            assert "/content/en/" not in post["url"]
