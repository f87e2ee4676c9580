"""The job contract's site-convention fields: `data.profile`, `data.baseUrl` and
`data.publishMedia`, refused with a 400 naming the field when they cannot be used, and
falling back to SITE_PROFILE and PUBLISH_MEDIA when absent."""

from __future__ import annotations

import json
from typing import Any

import pytest
from pressroom.api.requests import BadRequest, job_input, parse_job_request

from pressroom.config import Settings


def _body(**data: Any) -> bytes:
    return json.dumps(
        {"jobId": "j1", "task": "parse-only", "data": {"repoUrl": "/tmp/x", **data}}
    ).encode()


@pytest.mark.parametrize(
    ("data", "field"),
    [
        ({"profile": "gatsby"}, "data.profile"),
        ({"profile": 3}, "data.profile"),
        ({"baseUrl": "javascript:alert(1)"}, "data.baseUrl"),
        ({"baseUrl": "https://x.org/?q=1"}, "data.baseUrl"),
        ({"baseUrl": "https://x.org/\n"}, "data.baseUrl"),
        ({"baseUrl": "https://" + "a" * 3000}, "data.baseUrl"),
        ({"publishMedia": "yes"}, "data.publishMedia"),
    ],
)
def test_unusable_values_are_a_400_naming_the_field(data: dict[str, Any], field: str) -> None:
    with pytest.raises(BadRequest) as refused:
        parse_job_request(_body(**data))
    assert refused.value.field == field


def test_given_values_win_over_the_settings() -> None:
    settings = Settings(SITE_PROFILE="hugo", PUBLISH_MEDIA=True)
    request, body = parse_job_request(_body())
    job = job_input(request, body, settings)
    assert (job.profile, job.base_url, job.publish_media) == ("hugo", None, True)
    request, body = parse_job_request(
        _body(profile="zola", baseUrl="https://blog.example.org/x", publishMedia=False)
    )
    job = job_input(request, body, settings)
    assert (job.profile, job.base_url, job.publish_media) == (
        "zola",
        "https://blog.example.org/x",
        False,
    )
