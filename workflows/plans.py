"""The task plans: which steps each task runs, and each step's timeouts and retry policy.

This is data, kept in one place. Plain Python with no Temporal imports beyond the policy
types, so the API can import the known task names to validate requests.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from temporalio.common import RetryPolicy
from temporalio.workflow import ActivityCancellationType

FETCH = "fetch"
PARSE = "parse"
EMBED_TEXT = "embed-text"
EMBED_IMAGES = "embed-images"
LOAD_DATABASE = "load-database"
BUILD_ARTIFACTS = "build-artifacts"
PUBLISH = "publish"
SWITCH = "switch-revision"
CALLBACK = "callback"

PLANS: dict[str, tuple[str, ...]] = {
    "process-all": (
        FETCH,
        PARSE,
        EMBED_TEXT,
        EMBED_IMAGES,
        LOAD_DATABASE,
        BUILD_ARTIFACTS,
        PUBLISH,
        SWITCH,
    ),
    # Parse and publish the JSON artifacts only: no embeddings, no database.
    "parse-only": (FETCH, PARSE, BUILD_ARTIFACTS, PUBLISH),
}
# Every step of process-all, embedding every input again (cache reads bypassed, the cache
# rewritten): `pressroom reindex --force`, after a provider changed a model behind its name.
REINDEX = "reindex"
PLANS[REINDEX] = PLANS["process-all"]
REFRESH_EMBEDDINGS: frozenset[str] = frozenset({REINDEX})
KNOWN_TASKS: tuple[str, ...] = tuple(PLANS)

# Workflows started before the switch step existed load-and-switch in one step and write
# latest.json while publishing; `workflow.patched(DEFERRED_SWITCH)` tells them apart.
DEFERRED_SWITCH = "deferred-switch"

# Error types that retrying cannot fix: the job fails fast with the reason.
BAD_INPUT = "BadInput"
NON_RETRYABLE = [BAD_INPUT]


@dataclass(frozen=True)
class StepPolicy:
    start_to_close: timedelta
    heartbeat: timedelta | None
    retry: RetryPolicy
    schedule_to_close: timedelta | None = None  # all attempts together; None: no bound
    # A cancelled job waits until its running steps have really stopped (they see the cancel
    # at their next heartbeat) before it cleans the work store and reports `cancelled`.
    cancellation: ActivityCancellationType = ActivityCancellationType.WAIT_CANCELLATION_COMPLETED


# Callback delivery: the first retry after about a second, doubling up to an hour, each
# delay jittered by the activity (pressroom/delivery.py), for the job's delivery window.
CALLBACK_INITIAL_S = 1.0
CALLBACK_MAX_INTERVAL_S = 3600.0
CALLBACK_ATTEMPT_S = 60  # one attempt: the HTTP timeout (15-30 s) plus slack


def callback_policy(window_s: int, heartbeat_s: int) -> StepPolicy:
    """The callback's schedule: unlimited attempts bounded by the window (schedule-to-close)."""
    return StepPolicy(
        start_to_close=timedelta(seconds=CALLBACK_ATTEMPT_S),
        heartbeat=timedelta(seconds=heartbeat_s),
        retry=RetryPolicy(
            initial_interval=timedelta(seconds=CALLBACK_INITIAL_S),
            backoff_coefficient=2.0,
            maximum_interval=timedelta(seconds=CALLBACK_MAX_INTERVAL_S),
            maximum_attempts=0,  # the window bounds delivery, not a count
            non_retryable_error_types=NON_RETRYABLE,
        ),
        schedule_to_close=timedelta(seconds=max(1, window_s)),
    )


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


def step_policy(step: str, heartbeat_s: int) -> StepPolicy:
    """The declared timeouts and retries of one step."""
    hb = timedelta(seconds=heartbeat_s)
    policies = {
        FETCH: StepPolicy(timedelta(minutes=30), hb, _retry(5)),
        PARSE: StepPolicy(timedelta(minutes=60), hb, _retry(5)),
        EMBED_TEXT: StepPolicy(timedelta(minutes=30), hb, _retry(10, max_s=120)),
        EMBED_IMAGES: StepPolicy(timedelta(minutes=30), hb, _retry(10, max_s=120)),
        LOAD_DATABASE: StepPolicy(timedelta(minutes=60), hb, _retry(8)),
        BUILD_ARTIFACTS: StepPolicy(timedelta(minutes=30), hb, _retry(5)),
        PUBLISH: StepPolicy(timedelta(minutes=30), hb, _retry(8)),
        SWITCH: StepPolicy(timedelta(minutes=10), hb, _retry(8)),
        # The callback receiver may be down for a while: retry with backoff for about a day.
        # Heartbeated (step_context) so a worker that dies mid-delivery is noticed in seconds.
        CALLBACK: StepPolicy(timedelta(seconds=60), hb, _retry(40, initial_s=2, max_s=3600)),
        "cleanup": StepPolicy(timedelta(minutes=10), None, _retry(5)),
    }
    return policies[step]
