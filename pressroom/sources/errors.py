"""The two ways a fetch fails: bad input that no retry fixes, or a source unreachable now."""

from __future__ import annotations

__all__ = ["SourceError", "SourceUnavailable"]


class SourceError(ValueError):
    """The source is invalid, unsupported, unsafe or over a limit (bad input: do not retry)."""


class SourceUnavailable(Exception):
    """A remote source could not be reached right now (network, 5xx): worth retrying."""
