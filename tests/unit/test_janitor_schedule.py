"""The janitor schedule the worker creates: its id, interval, overlap policy and action, from
the settings (the e2e test in tests/e2e/jobs/test_reset.py creates it on the dev server)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from pressroom.starter.janitor import MIN_CATCHUP, janitor_schedule, janitor_schedule_id
from temporalio.client import ScheduleActionStartWorkflow, ScheduleOverlapPolicy

from pressroom.config import Settings


def test_the_schedule_runs_purge_work_on_the_task_queue_every_interval() -> None:
    settings = Settings(temporal_task_queue="blogs", janitor_interval="30m", work_retention="3d")
    schedule = janitor_schedule(settings)
    assert janitor_schedule_id("blogs") == "pressroom-janitor-blogs"
    assert [i.every for i in schedule.spec.intervals] == [timedelta(minutes=30)]
    assert schedule.policy.overlap == ScheduleOverlapPolicy.SKIP
    assert schedule.policy.catchup_window == timedelta(minutes=30)
    action = schedule.action
    assert isinstance(action, ScheduleActionStartWorkflow)
    assert (action.workflow, action.id, action.task_queue) == (
        "PurgeWork",
        "pressroom-janitor-blogs",
        "blogs",
    )
    assert "WORK_RETENTION=3d" in (schedule.state.note or "")
    short = janitor_schedule(settings.model_copy(update={"janitor_interval": timedelta(5)}))
    assert short.policy.catchup_window == timedelta(5)
    tiny = janitor_schedule(settings.model_copy(update={"janitor_interval": timedelta(1)}))
    assert tiny.policy.catchup_window == max(timedelta(1), MIN_CATCHUP)


def test_durations_read_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WORK_RETENTION", "12h")
    monkeypatch.setenv("JANITOR_INTERVAL", "0")
    settings = Settings()
    assert settings.work_retention == timedelta(hours=12)
    assert settings.janitor_interval == timedelta(0)
    assert Settings(WORK_RETENTION="90s").work_retention == timedelta(seconds=90)
    for bad in ("7x", "-1d", "soon"):
        with pytest.raises(ValueError, match="duration"):
            Settings(WORK_RETENTION=bad)
    with pytest.raises(ValueError, match="negative"):
        Settings(WORK_RETENTION=timedelta(seconds=-1))
