"""Registrations as job requests (api/site_requests.py) and the ids of site jobs
(api/site_jobs.py): no Temporal, no Postgres."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from pathlib import Path

import pytest
from pressroom.api.requests import SAFE_ID, BadRequest
from pressroom.api.site_jobs import build_job_id, push_job_id
from pressroom.api.site_requests import job_body, job_request, parse_registration

from pressroom.config import Settings
from pressroom.db.registrations import Registration

SHA = "0123456789abcdef0123456789abcdef01234567"


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(state_dir=tmp_path / "state")


def registration(site: str, raw: dict, settings: Settings) -> Registration:
    spec, sealed, key = parse_registration(site, json.dumps(raw).encode(), settings, None)
    now = datetime.now(UTC)
    return Registration(site, spec, sealed, key, now, now)


def test_a_git_registration_builds_its_branch_or_the_pushed_commit(settings: Settings) -> None:
    reg = registration(
        "blog",
        {"repoUrl": "https://t:ghp_secret1234@github.com/a/b.git", "branch": "main"},
        settings,
    )
    assert reg.spec["repoUrl"] == "https://github.com/a/b.git#main"
    assert reg.repository_key == "github.com/a/b"
    body = job_body(reg, "blog.build.x", settings)
    assert body["data"]["repoUrl"] == "https://t:ghp_secret1234@github.com/a/b.git#main"
    pushed = job_body(reg, "blog.github.d1", settings, commit=SHA)
    assert pushed["data"]["repoUrl"].endswith(f"b.git#{SHA}")
    request, _ = job_request(pushed)  # the job contract accepts it as POST /process would
    assert request.data.site == "blog" and request.data.distFolder == "blog"


def test_a_non_git_source_is_built_as_it_is(settings: Settings, tmp_path: Path) -> None:
    reg = registration("docs", {"repoUrl": str(tmp_path), "repository": "acme/docs"}, settings)
    assert job_body(reg, "docs.github.d", settings, commit=SHA)["data"]["repoUrl"] == str(tmp_path)


def test_options_are_the_jobs_data_fields(settings: Settings) -> None:
    raw = {
        "repoUrl": "x",
        "options": {"profile": "hugo", "publishMedia": True},
        "task": "parse-only",
    }
    body = job_body(registration("s", raw, settings), "s.build.1", settings)
    assert body["task"] == "parse-only"
    assert body["data"]["profile"] == "hugo" and body["data"]["publishMedia"] is True


def test_the_contract_names_the_registration_field(settings: Settings) -> None:
    with pytest.raises(BadRequest) as bad:
        registration("s", {"repoUrl": "x", "options": {"baseUrl": "nope"}}, settings)
    assert bad.value.field == "options.baseUrl"


@pytest.mark.parametrize(
    "delivery",
    ["72d3162e-cc78-11e3-81ab-4c9367dc0958", "a/b c", "x" * 300, "é", "", "-"],
)
def test_push_job_ids_are_valid_and_stable(delivery: str) -> None:
    job_id = push_job_id("my-blog", "github", delivery)
    assert re.fullmatch(SAFE_ID, job_id), job_id
    assert job_id == push_job_id("my-blog", "github", delivery)
    assert job_id != push_job_id("other", "github", delivery)


def test_build_job_ids_are_valid() -> None:
    assert re.fullmatch(SAFE_ID, build_job_id("a" * 64))
