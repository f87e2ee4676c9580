"""The bench's scenarios: corpus size, embedder and the API-latency model, by name."""

from __future__ import annotations

from dataclasses import dataclass

SEED = 11  # every corpus is generated from this seed: the same posts on every machine


@dataclass(frozen=True)
class Scenario:
    name: str
    posts: int
    embedder: str  # "local" (hashing) | "api" (OpenAI-compatible latency server)
    latency_ms: int = 0
    tokens_per_minute: int = 0
    descriptions: bool = False  # also describe images with the vision model (chat requests)


SCENARIOS: dict[str, Scenario] = {
    s.name: s
    for s in (
        Scenario("local-100", 100, "local"),
        Scenario("local-1000", 1000, "local"),
        Scenario("local-10000", 10_000, "local"),
        Scenario("api-100", 100, "api", latency_ms=300, tokens_per_minute=1_000_000),
        Scenario("api-1000", 1000, "api", latency_ms=300, tokens_per_minute=1_000_000),
        Scenario("api-10000", 10_000, "api", latency_ms=300, tokens_per_minute=1_000_000),
        Scenario("api-100-vision", 100, "api", 300, tokens_per_minute=1_000_000, descriptions=True),
    )
}
DEFAULT = ("local-100", "local-1000", "local-10000", "api-100", "api-1000", "api-100-vision")
