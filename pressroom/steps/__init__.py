"""The pipeline steps as plain async functions over a `Store`, free of Temporal.

Each step reads its inputs from the work store, does its work on a local scratch directory
and writes its outputs back, returning a small summary. The Temporal activities in
`activities/` wrap these with heartbeats and error classification.
"""

from collections.abc import Callable

# (done, total, detail): called as a step advances; activities turn it into heartbeats.
Progress = Callable[[int, int, str], None]


def no_progress(done: int, total: int, detail: str) -> None:
    """A Progress sink for callers that do not report progress."""
