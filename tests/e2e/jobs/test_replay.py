"""Determinism guard: workflow histories replay against the current workflow code.

Two sources of histories: jobs run now (process-all and parse-only), and the histories
recorded from earlier versions in tests/histories/*.json, which must keep replaying after
any change to the workflow. Re-record them on purpose with PRESSROOM_RECORD_HISTORIES=1, or
record new ones beside them with PRESSROOM_RECORD_HISTORIES=<label> ({task}-<label>.json).
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from pressroom.workflows.process_job import ProcessJob
from temporalio.client import Client, WorkflowHistory
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.worker import Replayer

from pressroom.config import Settings
from tests.conftest import EXAMPLE_BLOG, REPO_ROOT
from tests.jobs import job_request, run_job

HISTORIES = REPO_ROOT / "tests" / "histories"


def replayer() -> Replayer:
    return Replayer(workflows=[ProcessJob], data_converter=pydantic_data_converter)


@pytest.mark.parametrize("task", ["process-all", "parse-only"])
async def test_fresh_history_replays(
    task: str, settings: Settings, worker: None, temporal_client: Client
) -> None:
    body = job_request(EXAMPLE_BLOG, site=f"replay-{task}", task=task)
    result = await run_job(temporal_client, settings, body)
    assert result["status"] == "completed"
    history = await temporal_client.get_workflow_handle(body["jobId"]).fetch_history()
    await replayer().replay_workflow(history)  # raises on non-determinism
    label = os.environ.get("PRESSROOM_RECORD_HISTORIES")
    if label:  # "1": {task}.json; any other value names a new file beside the old ones
        name = task if label == "1" else f"{task}-{label}"
        (HISTORIES / f"{name}.json").write_text(history.to_json())


def recorded() -> list[Path]:
    return sorted(HISTORIES.glob("*.json"))


def test_recorded_histories_exist() -> None:
    names = {p.stem for p in recorded()}
    assert {"process-all", "parse-only"} <= names, "record with PRESSROOM_RECORD_HISTORIES=1"


@pytest.mark.parametrize("path", recorded(), ids=lambda p: p.stem)
async def test_recorded_history_replays(path: Path) -> None:
    history = WorkflowHistory.from_json(path.stem, path.read_text())
    await replayer().replay_workflow(history)
