"""Phase timing for the bench's floors: named laps of one clock.

(bench/peer.py keeps its own copy: it runs in the peer's virtualenv, outside this package.)
"""

from __future__ import annotations

import time


class Laps:
    """`lap(name)` records the time since the previous lap (or the start) under `name`."""

    def __init__(self) -> None:
        self.start = self.mark = time.perf_counter()
        self.phases: dict[str, float] = {}

    def lap(self, name: str) -> None:
        now = time.perf_counter()
        self.phases[name] = round(now - self.mark, 4)
        self.mark = now

    @property
    def seconds(self) -> float:
        return time.perf_counter() - self.start
