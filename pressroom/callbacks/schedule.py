"""The callback retry schedule: exponential backoff with jitter, and the receiver's
Retry-After honoured as given.

Attempt n (1-based) failed: wait `min(cap, initial * 2**(n-1))` scaled by a random factor in
[0.5, 1) ("equal jitter"), so receivers that come back after an outage are not hit by every
pending job in the same second. The window that bounds the whole schedule is Temporal's
schedule-to-close timeout on the callback activity (workflows/plans.py).
"""

from __future__ import annotations

import random

INITIAL_S = 1.0
MAX_INTERVAL_S = 3600.0

_rng = random.SystemRandom()


def retry_delay(
    attempt: int,
    retry_after: float | None = None,
    *,
    initial_s: float = INITIAL_S,
    max_s: float = MAX_INTERVAL_S,
    rng: random.Random = _rng,
) -> float:
    """Seconds to wait after failed attempt `attempt`; Retry-After (if positive) wins."""
    if retry_after is not None and retry_after > 0:
        return retry_after
    base = min(max_s, initial_s * 2 ** max(0, attempt - 1))
    return base * (0.5 + rng.random() / 2)
