"""What a provider's response says about its rate limits: OpenAI's `x-ratelimit-*` headers.

OpenAI (and Groq, OpenRouter, vLLM behind a gateway, ...) send, per response::

    x-ratelimit-limit-requests: 600        x-ratelimit-limit-tokens: 150000
    x-ratelimit-remaining-requests: 587    x-ratelimit-remaining-tokens: 149120
    x-ratelimit-reset-requests: 1.3s       x-ratelimit-reset-tokens: 352ms

`reset` is the time until the budget is whole again (a bucket that refills steadily), so
`(limit - remaining) / reset` is the refill rate. Servers without these headers (Ollama, a
bare vLLM) give an empty `RateLimits`: the limiter then listens to 429s only.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

__all__ = ["Budget", "RateLimits", "parse_duration", "parse_rate_limits"]

_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|h|m|s)")
_UNIT = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}


def parse_duration(raw: str | None) -> float | None:
    """Seconds in an OpenAI reset value: `6m0s`, `1.5s`, `12ms`, `1h2m3s`, or bare seconds."""
    if raw is None:
        return None
    text = raw.strip().lower()
    try:
        return max(0.0, float(text))
    except ValueError:
        pass
    parts = _PART.findall(text)
    if not parts or "".join(n + u for n, u in parts) != text:
        return None
    return sum(float(n) * _UNIT[u] for n, u in parts)


def _int(raw: str | None) -> int | None:
    if raw is None:
        return None
    try:
        return int(float(raw))
    except ValueError:
        return None


@dataclass(frozen=True)
class Budget:
    """One of the provider's budgets (requests or tokens) as one response reported it."""

    limit: int | None
    remaining: int
    reset: float | None  # seconds until whole again

    @property
    def refill_rate(self) -> float | None:
        """Units per second the budget regains; None when it cannot be told (it is whole)."""
        if self.limit is None or self.reset is None or self.reset <= 0:
            return None
        used = self.limit - self.remaining
        return used / self.reset if used > 0 else None

    @property
    def low(self) -> bool:
        """Under a tenth of the limit left."""
        return self.limit is not None and self.remaining < self.limit * 0.1


@dataclass(frozen=True)
class RateLimits:
    requests: Budget | None = None
    tokens: Budget | None = None


def _budget(headers: Mapping[str, str], kind: str) -> Budget | None:
    remaining = _int(headers.get(f"x-ratelimit-remaining-{kind}"))
    if remaining is None:
        return None
    return Budget(
        limit=_int(headers.get(f"x-ratelimit-limit-{kind}")),
        remaining=max(0, remaining),
        reset=parse_duration(headers.get(f"x-ratelimit-reset-{kind}")),
    )


def parse_rate_limits(headers: Mapping[str, str] | None) -> RateLimits:
    """The budgets a response's headers report (case-insensitive mapping, e.g. httpx's)."""
    if headers is None:
        return RateLimits()
    return RateLimits(requests=_budget(headers, "requests"), tokens=_budget(headers, "tokens"))
