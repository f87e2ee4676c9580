"""What each task runs and how each step is retried: the task plans and the step policies.

Data only, kept in one place. Plain Python with no Temporal imports beyond the policy types,
so the API can import the known task names to validate requests. `ProcessJob` reads a task's
`TaskPlan` flags and names each step's policy next to its activity call.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import timedelta

from temporalio.common import RetryPolicy
from temporalio.workflow import ActivityCancellationType

# Step names, as the job's progress shows them (and fault injection names them).
FETCH = "fetch"
PARSE = "parse"
EMBED_TEXT = "embed-text"
EMBED_IMAGES = "embed-images"
THUMBNAILS = "thumbnails"
LOAD_DATABASE = "load-database"
BUILD_ARTIFACTS = "build-artifacts"
PUBLISH = "publish"
SWITCH = "switch-revision"
CALLBACK = "callback"
PURGE_WORK = "purge-work"  # the janitor's one step (`PurgeWork`), not a job's


@dataclass(frozen=True)
class TaskPlan:
    """Which optional steps a task runs; fetch, parse, build-artifacts and publish always do."""

    embed: bool = False  # embed-text and embed-images
    load_database: bool = False  # needs `embed`
    switch: bool = False  # make the loaded, published revision the site's current one
    # Embed every input again (cache reads bypassed, the cache rewritten): after a provider
    # changed a model behind its name.
    refresh_embeddings: bool = False

    @property
    def steps(self) -> tuple[str, ...]:
        """The task's steps in the order they run (the job's progress lists them)."""
        return (
            FETCH,
            PARSE,
            *((EMBED_TEXT, EMBED_IMAGES) if self.embed else ()),
            *((THUMBNAILS,) if self.load_database else ()),
            *((LOAD_DATABASE,) if self.load_database else ()),
            BUILD_ARTIFACTS,
            PUBLISH,
            *((SWITCH,) if self.switch else ()),
        )


PROCESS_ALL = TaskPlan(embed=True, load_database=True, switch=True)
# `pressroom reindex --force`: every step of process-all, embedding every input again.
REINDEX = "reindex"
TASKS: dict[str, TaskPlan] = {
    "process-all": PROCESS_ALL,
    # Parse and publish the JSON artifacts only: no embeddings, no database.
    "parse-only": TaskPlan(),
    REINDEX: replace(PROCESS_ALL, refresh_embeddings=True),
}
KNOWN_TASKS: tuple[str, ...] = tuple(TASKS)

# Workflows started before the switch step existed load-and-switch in one step and write
# latest.json while publishing; `workflow.patched(DEFERRED_SWITCH)` tells them apart.
DEFERRED_SWITCH = "deferred-switch"

# Image previews are made by their own step, before the load step instead of inside it;
# `workflow.patched(THUMBNAILS_BESIDE_EMBEDDING)` keeps older histories replaying.
THUMBNAILS_BESIDE_EMBEDDING = "thumbnails-beside-embedding"
# Embedders that compute on the worker's own cores. Beside them, decoding images only
# contends for the same cores and stacks both steps' memory (go-blog: peak 231 MB side by
# side), so the thumbnails step runs after them; beside a remote provider, which mostly
# waits on the network, it runs at the same time and leaves the critical path.
LOCAL_EMBEDDERS = frozenset({"hashing"})

# A job whose revision is already built, published and loaded with the same output skips
# straight to the switch; `workflow.patched(REUSE_UNCHANGED)` keeps older histories replaying.
REUSE_UNCHANGED = "reuse-unchanged"

# The workflow publishes its progress in its memo (workflows/progress_memo.py) as it goes;
# `workflow.patched(PROGRESS_MEMO)` keeps older histories, which never did, replaying.
PROGRESS_MEMO = "progress-memo"

# A failed job's work store is marked for the janitor like a completed one (it used to be
# kept unmarked, forever); `workflow.patched(MARK_FAILED_WORK)` keeps older histories replaying.
MARK_FAILED_WORK = "mark-failed-work"

# A job's start time (published as `createdAt`/`publishedAt`) is its start event's, which a
# reset keeps, not its first workflow task's, which a reset to the first step moves;
# `workflow.patched(STABLE_START_TIME)` keeps older histories replaying.
STABLE_START_TIME = "stable-start-time"

# Error types that retrying cannot fix: the job fails fast with the reason.
BAD_INPUT = "BadInput"
# A step of a job whose work store the janitor purged (a reset past WORK_RETENTION).
WORK_EXPIRED = "WorkExpired"
NON_RETRYABLE = [BAD_INPUT]


@dataclass(frozen=True)
class StepPolicy:
    """One step's timeouts and retries. (The heartbeat timeout is the job's own,
    `JobInput.heartbeat_seconds`, fixed at start.)"""

    start_to_close: timedelta
    retry: RetryPolicy
    schedule_to_close: timedelta | None = None  # all attempts together; None: no bound
    # A cancelled job waits until its running steps have really stopped (they see the cancel
    # at their next heartbeat) before it cleans the work store and reports `cancelled`.
    cancellation: ActivityCancellationType = ActivityCancellationType.WAIT_CANCELLATION_COMPLETED


def _retry(attempts: int, initial_s: float = 1, max_s: float = 60) -> RetryPolicy:
    # Finite attempts everywhere: an error that is retryable by type but permanent in fact
    # (say a payload over the server's limit) must not loop forever.
    return RetryPolicy(
        initial_interval=timedelta(seconds=initial_s),
        backoff_coefficient=2.0,
        maximum_interval=timedelta(seconds=max_s),
        maximum_attempts=attempts,
        non_retryable_error_types=NON_RETRYABLE,
    )


FETCH_POLICY = StepPolicy(timedelta(minutes=30), _retry(5))
PARSE_POLICY = StepPolicy(timedelta(minutes=60), _retry(5))
EMBED_POLICY = StepPolicy(timedelta(minutes=30), _retry(10, max_s=120))  # one batch
THUMBNAILS_POLICY = StepPolicy(timedelta(minutes=30), _retry(5))
LOAD_POLICY = StepPolicy(timedelta(minutes=60), _retry(8))
BUILD_POLICY = StepPolicy(timedelta(minutes=30), _retry(5))
PUBLISH_POLICY = StepPolicy(timedelta(minutes=30), _retry(8))
SWITCH_POLICY = StepPolicy(timedelta(minutes=10), _retry(8))
CLEANUP_POLICY = StepPolicy(timedelta(minutes=10), _retry(5))  # no heartbeat: a marker or a delete
# The janitor (`PurgeWork`): one walk over every job folder, heartbeating per folder.
JANITOR_POLICY = StepPolicy(timedelta(hours=1), _retry(3, initial_s=10))
JANITOR_HEARTBEAT = timedelta(minutes=2)

# Callback delivery: the first retry after about a second, doubling up to an hour, each
# delay jittered by the activity (pressroom.callbacks.webhooks), for the job's delivery
# window. The one place these numbers live: the activity passes them to `retry_delay`.
CALLBACK_INITIAL_S = 1.0
CALLBACK_MAX_INTERVAL_S = 3600.0
CALLBACK_ATTEMPT_S = 60  # one attempt: the HTTP timeout (15-30 s) plus slack


def callback_policy(window_s: int) -> StepPolicy:
    """The callback's schedule: unlimited attempts bounded by the window (schedule-to-close).
    Heartbeated, so a worker that dies mid-delivery is noticed in seconds."""
    return StepPolicy(
        start_to_close=timedelta(seconds=CALLBACK_ATTEMPT_S),
        retry=RetryPolicy(
            initial_interval=timedelta(seconds=CALLBACK_INITIAL_S),
            backoff_coefficient=2.0,
            maximum_interval=timedelta(seconds=CALLBACK_MAX_INTERVAL_S),
            maximum_attempts=0,  # the window bounds delivery, not a count
            non_retryable_error_types=NON_RETRYABLE,
        ),
        schedule_to_close=timedelta(seconds=max(1, window_s)),
    )
