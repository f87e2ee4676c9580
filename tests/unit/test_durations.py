"""Durations as settings and schedule requests spell them (pressroom/durations.py)."""

from __future__ import annotations

from datetime import timedelta

import pytest

from pressroom.durations import format_duration, parse_duration


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("90", 90),
        ("0", 0),
        ("90s", 90),
        ("30m", 1800),
        ("1h30m", 5400),
        ("7d", 604800),
        ("2w", 1209600),
        (" 1H ", 3600),
        ("1d 12h", 129600),
    ],
)
def test_reads_the_written_forms(text: str, seconds: int) -> None:
    assert parse_duration(text) == timedelta(seconds=seconds)


@pytest.mark.parametrize("text", ["", "h", "1x", "1.5h", "-1h", "1h-", "P7D", "1h 2", "99999w"])
def test_refuses_anything_else_naming_the_forms(text: str) -> None:
    with pytest.raises(ValueError, match=r"duration|ten years"):
        parse_duration(text)


@pytest.mark.parametrize("seconds", [0, 1, 59, 60, 3600, 5400, 86400, 604800, 90061])
def test_format_reads_back(seconds: int) -> None:
    value = timedelta(seconds=seconds)
    assert parse_duration(format_duration(value)) == value
