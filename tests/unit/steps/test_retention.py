"""Work-store retention against the local store: the end-of-job marker, the janitor's
decision (marker age against the window, running jobs untouched, the tombstone), and the
check every step makes before it runs."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from pressroom.activities.heartbeat import classify
from pressroom.workflows.plans import WORK_EXPIRED
from temporalio.exceptions import ApplicationError

from pressroom.steps.retention import (
    Finished,
    PurgeCounts,
    WorkExpired,
    finish_work,
    purge_expired,
    refuse_purged,
)
from pressroom.storage import LocalStore
from pressroom.storage.workstore import WorkKeys

NOW = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)
WEEK = timedelta(days=7)
# What a job leaves in its work store, in folders and at the top.
WORK_FILES = ("source.tar", "parsed/posts.jsonl", "vectors/text-00000.npy", "artifacts/a.json")


async def fill(store: LocalStore, job_id: str) -> None:
    for name in WORK_FILES:
        await store.put_bytes(f"{WorkKeys(job_id).prefix}/{name}", b"data")


async def finished(
    store: LocalStore, job_id: str, age: timedelta, retention: timedelta = WEEK
) -> None:
    """A job's work store, marked as finished `age` before NOW under `retention`."""
    await fill(store, job_id)
    await finish_work(store, job_id, status="completed", now=NOW - age, retention=retention)


def files(root: Path, job_id: str) -> list[str]:
    folder = root / "_work" / job_id
    return sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file())


class Running:
    """`is_running` for the janitor: these job ids run now; records who was asked."""

    def __init__(self, *job_ids: str) -> None:
        self.job_ids = set(job_ids)
        self.asked: list[str] = []

    async def __call__(self, job_id: str) -> bool:
        self.asked.append(job_id)
        return job_id in self.job_ids


@pytest.fixture
def store(tmp_path: Path) -> LocalStore:
    return LocalStore(tmp_path / "store")


async def test_a_finished_job_keeps_its_work_store_with_a_marker(store: LocalStore) -> None:
    await fill(store, "job-a")
    deleted = await finish_work(store, "job-a", status="completed", now=NOW, retention=WEEK)
    assert deleted == 0
    assert files(store.root, "job-a") == sorted([*WORK_FILES, "finished.json"])
    marker = json.loads((store.root / "_work/job-a/finished.json").read_text())
    assert marker == {
        "jobId": "job-a",
        "status": "completed",
        "finishedAt": "2025-03-01T12:00:00.000000Z",
        "retention": "7d",
    }


async def test_no_retention_deletes_a_completed_job_but_marks_a_failed_one(
    store: LocalStore,
) -> None:
    await fill(store, "done")
    await fill(store, "failed")
    zero = timedelta(0)
    assert await finish_work(store, "done", status="completed", now=NOW, retention=zero) == 4
    assert not (store.root / "_work/done").exists()
    # A failed job's work store is what a reset of it needs: the janitor takes it, later.
    assert await finish_work(store, "failed", status="failed", now=NOW, retention=zero) == 0
    assert "finished.json" in files(store.root, "failed")
    assert len(files(store.root, "failed")) == len(WORK_FILES) + 1


async def test_the_janitor_purges_past_the_window_and_leaves_a_tombstone(
    store: LocalStore,
) -> None:
    await finished(store, "old", age=WEEK + timedelta(seconds=1))
    await finished(store, "fresh", age=WEEK - timedelta(seconds=1))
    running = Running()
    counts = await purge_expired(store, now=NOW, retention=WEEK, is_running=running)
    assert counts == PurgeCounts(purged=1, kept=1)
    assert running.asked == ["old"]  # only a job past its window is looked up
    assert files(store.root, "old") == ["purged.json"]
    tombstone = json.loads((store.root / "_work/old/purged.json").read_text())
    assert tombstone == {
        "jobId": "old",
        "purgedAt": "2025-03-01T12:00:00.000000Z",
        "finishedAt": "2025-02-22T11:59:59.000000Z",
        "retention": "7d",
    }
    assert files(store.root, "fresh") == sorted([*WORK_FILES, "finished.json"])


async def test_running_and_unmarked_jobs_are_left_alone(store: LocalStore) -> None:
    await fill(store, "running")  # no marker yet: its job is still running
    await finished(store, "reset", age=2 * WEEK)  # past its window, but run again (a reset)
    await store.put_bytes("_work/stray.txt", b"not a job folder")
    running = Running("reset")
    counts = await purge_expired(store, now=NOW, retention=WEEK, is_running=running)
    assert counts == PurgeCounts(running=1, unmarked=1)
    assert files(store.root, "running") == sorted(WORK_FILES)
    assert files(store.root, "reset") == sorted([*WORK_FILES, "finished.json"])
    assert (store.root / "_work/stray.txt").is_file()


async def test_the_window_is_the_shorter_of_the_jobs_and_the_current_setting(
    store: LocalStore,
) -> None:
    # Finished under 7d, the setting lowered to 1d since: purged after 1d, and says so.
    await finished(store, "lowered", age=timedelta(days=2))
    # Finished under 1s, the setting 7d: never kept longer than it was told when it finished.
    await finished(store, "short", age=timedelta(seconds=2), retention=timedelta(seconds=1))
    day = timedelta(days=1)
    assert await purge_expired(store, now=NOW, retention=day, is_running=Running()) == (
        PurgeCounts(purged=2)
    )
    lowered = json.loads((store.root / "_work/lowered/purged.json").read_text())
    assert lowered["retention"] == "1d"
    short = json.loads((store.root / "_work/short/purged.json").read_text())
    assert short["retention"] == "1s"


async def test_a_second_run_counts_tombstones_and_finishes_a_cut_short_purge(
    store: LocalStore,
) -> None:
    await finished(store, "a", age=2 * WEEK)
    await finished(store, "b", age=2 * WEEK)
    assert (await purge_expired(store, now=NOW, retention=WEEK, is_running=Running())).purged == 2
    # A purge cut short after its tombstone (the worker died): files still beside it.
    await fill(store, "b")
    running = Running()
    counts = await purge_expired(store, now=NOW, retention=WEEK, is_running=running)
    assert counts == PurgeCounts(tombstones=2)
    assert running.asked == []
    assert files(store.root, "a") == files(store.root, "b") == ["purged.json"]


async def test_an_unreadable_marker_is_left_for_an_operator(store: LocalStore) -> None:
    await fill(store, "odd")
    await store.put_bytes(WorkKeys("odd").finished, b"{not json")
    counts = await purge_expired(store, now=NOW, retention=WEEK, is_running=Running())
    assert counts == PurgeCounts(unmarked=1)
    assert len(files(store.root, "odd")) == len(WORK_FILES) + 1


async def test_steps_refuse_a_purged_work_store_with_the_window(store: LocalStore) -> None:
    await finished(store, "kept", age=timedelta(hours=1))
    await refuse_purged(store, WorkKeys("kept"))  # inside the window: nothing raised
    await finished(store, "gone", age=WEEK + timedelta(hours=1))
    await purge_expired(store, now=NOW, retention=WEEK, is_running=Running())
    with pytest.raises(WorkExpired) as raised:
        await refuse_purged(store, WorkKeys("gone"))
    reason = str(raised.value)
    assert reason == (
        "job gone's work store was purged at 2025-03-01T12:00:00.000000Z: finished jobs keep "
        "it for WORK_RETENTION=7d; start a new job instead of resetting this one"
    )
    # The activities see it as a failure no retry can fix.
    mapped = classify(raised.value)
    assert isinstance(mapped, ApplicationError)
    assert (mapped.type, mapped.non_retryable, mapped.message) == (WORK_EXPIRED, True, reason)


async def test_the_end_of_a_reset_past_the_window_keeps_the_tombstone(
    store: LocalStore,
) -> None:
    await finished(store, "gone", age=2 * WEEK)
    await purge_expired(store, now=NOW, retention=WEEK, is_running=Running())
    for status, retention in (("failed", WEEK), ("completed", timedelta(0))):
        await finish_work(store, "gone", status=status, now=NOW, retention=retention)
        assert files(store.root, "gone") == ["purged.json"]


def test_markers_round_trip() -> None:
    marker = Finished("j", "cancelled", NOW, timedelta(hours=12))
    assert Finished.from_json(marker.to_json()) == marker


async def test_local_children_and_delete_all_but(store: LocalStore) -> None:
    await fill(store, "j")
    assert [n async for n in store.iter_children("_work/j")] == [
        "artifacts/",
        "parsed/",
        "source.tar",
        "vectors/",
    ]
    assert [n async for n in store.iter_children("_work/missing")] == []
    keep = "_work/j/parsed/posts.jsonl"
    assert await store.delete_prefix("_work/j", keep={keep}) == 3
    assert await store.list_keys("_work") == [keep]
    assert [n async for n in store.iter_children("_work/j")] == ["parsed/"]  # no empty folders
