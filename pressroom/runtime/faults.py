"""Fault injection for crash drills and the fault-matrix tests: named points where a step can
be made to stop and wait, so a test (or an operator rehearsing a failover) can kill a worker,
a database or the Temporal server at an exact moment.

Inert unless armed. `PRESSROOM_FAULT_HOLD` names one point; the activity layer arms it for
the duration of each step (`armed`), and `fault_point(name)` then holds when `name` matches:
forever, or until the file `PRESSROOM_FAULT_RELEASE` names exists. The activity's heartbeat
pump keeps running meanwhile, so a held step looks alive to Temporal until its worker dies.

Points (besides every step name, which holds the step before it starts):

- `embed-{kind}:batch-{n}:after-request-{k}`: embed batch `n` (kind `text` or `media`),
  after the vectors of its k-th embedder call were cached;
- `load-database:mid-copy`: inside the load transaction, posts copied, sections COPY open;
- `load-database:after-commit`: the load committed, the activity not yet reported;
- `publish:before-latest`: the revision's files uploaded, `latest.json` not yet written;
- `switch-revision:before-latest`: in the switch transaction, the site's pointer moved (not
  committed), `latest.json` not yet written;
- `callback:after-send`: the callback delivered, the activity not yet reported.

No Temporal imports: steps in `pressroom.steps` call `fault_point` directly.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Iterator
from contextvars import ContextVar
from dataclasses import dataclass
from pathlib import Path

__all__ = ["FaultPlan", "armed", "fault_point", "is_armed"]

log = logging.getLogger("pressroom.runtime.faults")

POLL_S = 0.2


@dataclass(frozen=True)
class FaultPlan:
    """Which point to hold, and the file whose existence releases the hold (None: never)."""

    point: str
    release: Path | None = None

    @classmethod
    def from_settings(cls, point: str | None, release: Path | None = None) -> FaultPlan | None:
        return cls(point.strip(), release) if point and point.strip() else None


# Per step (activities run as tasks; each copies the context), so concurrent steps on one
# worker, and test code in the same process, are never armed by accident.
_ARMED: ContextVar[FaultPlan | None] = ContextVar("pressroom_fault_plan", default=None)


@contextlib.contextmanager
def armed(plan: FaultPlan | None) -> Iterator[None]:
    """Arm `plan` for the code run inside (in this task and the threads it starts)."""
    token = _ARMED.set(plan)
    try:
        yield
    finally:
        _ARMED.reset(token)


def is_armed(name: str) -> bool:
    plan = _ARMED.get()
    return plan is not None and plan.point == name


async def fault_point(name: str) -> None:
    """Hold here if the armed plan names this point; otherwise return at once."""
    plan = _ARMED.get()
    if plan is None or plan.point != name:
        return
    if plan.release is not None and plan.release.exists():
        return
    log.warning("fault injection: holding at %s (PRESSROOM_FAULT_HOLD)", name)
    # Polling a file, not an Event: the releaser is another process (the test or an operator).
    while plan.release is None or not plan.release.exists():  # noqa: ASYNC110
        await asyncio.sleep(POLL_S)
    log.warning("fault injection: released at %s", name)
