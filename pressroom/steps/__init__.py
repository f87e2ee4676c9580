"""The pipeline steps as plain async functions over a `Store`, free of Temporal.

Each step is `async def step(request, env) -> Summary`: a frozen request beside the step
says what to do, the env (`steps.env`) holds the store, the job's work keys, a scratch
directory, the progress sink and the clients the step needs. A step reads its inputs from
the work store, works in its scratch directory and writes its outputs back, returning a small
summary. The Temporal activities in `activities/` build both and add heartbeats and error
classification. (This module stays import-light: parse child processes import it.)
"""

from collections.abc import Callable

# (done, total, detail): called as a step advances; activities turn it into heartbeats.
Progress = Callable[[int, int, str], None]


def no_progress(done: int, total: int, detail: str) -> None:
    """A Progress sink for callers that do not report progress."""
