"""`data.exports` and `EXPORTS` (api/requests.py, pressroom/publish/exports.py): which optional
artifacts a job makes, refused with a 400 naming the field when it cannot."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from pressroom.api.requests import BadRequest, job_input, parse_job_request
from pydantic import ValidationError

from pressroom.config import Settings


def body(task: str = "process-all", **data: object) -> bytes:
    return json.dumps(
        {"jobId": "j1", "task": task, "data": {"repoUrl": "/x", "site": "s", **data}}
    ).encode()


def job(raw: bytes, settings: Settings) -> list[str]:
    request, parsed = parse_job_request(raw)
    return job_input(request, parsed, settings).exports


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(state_dir=tmp_path)


def test_a_job_names_its_exports_in_canonical_order(settings: Settings) -> None:
    assert job(body(exports=["export.sql", "search.db"]), settings) == ["search.db", "export.sql"]
    assert job(body(exports=[]), settings) == []
    assert job(body(), settings) == []


def test_the_setting_is_the_default_and_a_job_overrides_it(tmp_path: Path) -> None:
    both = Settings(state_dir=tmp_path, exports="search.db, export.sql")
    assert job(body(), both) == ["search.db", "export.sql"]
    assert job(body(exports=["search.db"]), both) == ["search.db"]
    # A task that loads no database cannot make export.sql: the default leaves it out...
    assert job(body("parse-only"), both) == ["search.db"]


@pytest.mark.parametrize(
    "exports",
    [["search.json"], ["search.db", "search.db"], "search.db", [1], ["a"] * 3],
)
def test_bad_exports_are_a_400_naming_the_field(exports: object) -> None:
    with pytest.raises(BadRequest) as bad:
        parse_job_request(body(exports=exports))
    assert bad.value.field is not None and bad.value.field.startswith("data.exports")


def test_export_sql_for_a_task_without_a_database_is_a_400() -> None:
    # ...while a job asking for it by name is told why.
    with pytest.raises(BadRequest) as bad:
        parse_job_request(body("parse-only", exports=["export.sql"]))
    assert bad.value.field == "data.exports" and "parse-only" in bad.value.message


def test_an_unknown_export_setting_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValidationError, match="unknown export"):
        Settings(state_dir=tmp_path, exports="search.sqlite")
