"""The job result's JSON: the keys clients read (callback body, `GET /jobs/{jobId}`)."""

from __future__ import annotations

from pressroom.models import (
    ArtifactsResult,
    FileDigest,
    JobResult,
    LoadSummary,
    PostError,
)


def test_a_parse_only_result_names_only_what_ran() -> None:
    result = JobResult(
        task="parse-only",
        site="s",
        revision="r-1",
        artifacts=ArtifactsResult(
            base="file:///dist/r-1",
            latest="file:///dist/latest.json",
            latest_updated=True,
            reused=False,
            files={"posts.json": FileDigest(bytes=3, sha256="ab")},
        ),
        status="completed",
        errors=[PostError(path="a.md", reason="bad")],
        error_count=1,
        counts={"posts": 2},
    )
    assert result.as_dict() == {
        "task": "parse-only",
        "site": "s",
        "revision": "r-1",
        "artifacts": {
            "base": "file:///dist/r-1",
            "latest": "file:///dist/latest.json",
            "latestUpdated": True,
            "reused": False,
            "files": {"posts.json": {"bytes": 3, "sha256": "ab"}},
        },
        "status": "completed",
        "errors": [{"path": "a.md", "reason": "bad"}],
        "errorCount": 1,
        "skipped": [],
        "warnings": [],
        "warningCount": 0,
        "counts": {"posts": 2},
    }


def test_a_superseded_load_keeps_the_summary_in_snake_case() -> None:
    loaded = LoadSummary(
        site="s", revision_id="r-1", posts=0, sections=0, media=0,
        previous_revision="r-2", switched=False, superseded=True,
    )  # fmt: skip
    out = JobResult(
        task="process-all",
        site="s",
        database=loaded,
        previous_revision="r-2",
        superseded=True,
        status="completed",
        callback={"state": "refused", "reason": "410", "attempts": None},
    ).as_dict()
    assert out["database"] == loaded.model_dump()
    assert out["previousRevision"] == "r-2" and out["superseded"] is True
    assert "artifacts" not in out and "switch" not in out and "failure" not in out
    assert out["callback"] == {"state": "refused", "reason": "410", "attempts": None}
