"""The task plans: which steps each task runs, and each step's timeouts and retry policy.

This is data, kept in one place. Plain Python with no Temporal imports beyond the policy
types, so the API can import the known task names to validate requests.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from temporalio.common import RetryPolicy

FETCH = "fetch"
PARSE = "parse"
EMBED_TEXT = "embed-text"
EMBED_IMAGES = "embed-images"
LOAD_DATABASE = "load-database"
BUILD_ARTIFACTS = "build-artifacts"
PUBLISH = "publish"
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
    ),
    # Parse and publish the JSON artifacts only: no embeddings, no database.
    "parse-only": (FETCH, PARSE, BUILD_ARTIFACTS, PUBLISH),
}
KNOWN_TASKS: tuple[str, ...] = tuple(PLANS)

# Error types that retrying cannot fix: the job fails fast with the reason.
BAD_INPUT = "BadInput"
NON_RETRYABLE = [BAD_INPUT]


@dataclass(frozen=True)
class StepPolicy:
    start_to_close: timedelta
    heartbeat: timedelta | None
    retry: RetryPolicy


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
        # The callback receiver may be down for a while: retry with backoff for about a day.
        CALLBACK: StepPolicy(timedelta(seconds=60), None, _retry(40, initial_s=2, max_s=3600)),
        "cleanup": StepPolicy(timedelta(minutes=10), None, _retry(5)),
    }
    return policies[step]
