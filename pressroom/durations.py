"""Durations as people write them in settings and requests: `90s`, `30m`, `1h30m`, `7d`, `2w`.

One reader for every duration Pressroom takes (`WORK_RETENTION`, a schedule's `every` and
`jitter`), so each accepts the same spellings and refuses the same mistakes with the same
words. A bare number is seconds; `0` is zero (callers say what zero means for them).
"""

from __future__ import annotations

import re
from datetime import timedelta

__all__ = ["format_duration", "parse_duration"]

_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}
_PART = re.compile(r"(\d{1,9})([smhdw])")
# A year of seconds times ten: anything longer is a typo, not a retention or an interval.
MAX_SECONDS = 10 * 366 * 86400


def parse_duration(text: str) -> timedelta:
    """`text` as a timedelta; ValueError naming the accepted forms when it is not one."""
    raw = text.strip().lower().replace(" ", "")
    if raw.isdigit() and len(raw) <= 10:
        seconds = int(raw)
    else:
        parts = _PART.findall(raw)
        if not raw or "".join(n + u for n, u in parts) != raw:
            raise ValueError(
                f"{text[:40]!r} is not a duration: write a number of seconds or amounts with "
                "units s, m, h, d, w (e.g. 90s, 30m, 1h30m, 7d)"
            )
        seconds = sum(int(n) * _UNITS[u] for n, u in parts)
    if seconds > MAX_SECONDS:
        raise ValueError(f"{text[:40]!r} is longer than ten years")
    return timedelta(seconds=seconds)


def format_duration(value: timedelta) -> str:
    """The shortest spelling `parse_duration` reads back: `7d`, `1h30m`, `0s`."""
    seconds = int(value.total_seconds())
    if seconds <= 0:
        return "0s"
    out = []
    for unit in ("d", "h", "m", "s"):
        amount, seconds = divmod(seconds, _UNITS[unit])
        if amount:
            out.append(f"{amount}{unit}")
    return "".join(out)
