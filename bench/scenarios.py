"""The bench's scenarios: corpus, embedder, the API-latency model and what runs beside
Pressroom (the floors, the LlamaIndex peer), by name; and the named sets `--scenarios` takes."""

from __future__ import annotations

from dataclasses import dataclass

SEED = 11  # every corpus is generated from this seed: the same posts on every machine
GENERATED = "generated"
REAL_MIX = "real-mix"  # bench/real_corpus.py: the real corpora replicated with perturbed text
# No token budget on the real corpora's server: they compare against the peer, not a rate limit.
UNLIMITED_TPM = 1_000_000_000


@dataclass(frozen=True)
class Scenario:
    name: str
    posts: int  # for a shared real corpus, 0: as many as it holds
    embedder: str  # "local" (hashing) | "api" (OpenAI-compatible latency server)
    latency_ms: int = 0
    tokens_per_minute: int = 0
    descriptions: bool = False  # also describe images with the vision model (chat requests)
    corpus: str = GENERATED  # GENERATED | REAL_MIX | a folder of ../shared/corpora
    floor: bool = True  # bench/floor.py before, bench/physical_floor.py after each run
    peer: bool = False  # the LlamaIndex peer (bench/peer.py) interleaved with each run
    exports: tuple[str, ...] = ()  # the job's `data.exports` (optional artifacts)


def _real(corpus: str, posts: int = 0) -> tuple[Scenario, ...]:
    """A real corpus with the local embedder (beside both floors), and with the API latency
    server at 0 ms and 300 ms per request (beside the peer)."""
    stem = (corpus if corpus == REAL_MIX else f"real-{corpus}") + (f"-{posts}" if posts else "")
    return (
        Scenario(f"{stem}-local", posts, "local", corpus=corpus),
        *(
            Scenario(
                f"{stem}-api{ms}",
                posts,
                "api",
                ms,
                UNLIMITED_TPM,
                corpus=corpus,
                floor=False,
                peer=True,
            )
            for ms in (0, 300)
        ),
    )


SCENARIOS: dict[str, Scenario] = {
    s.name: s
    for s in (
        Scenario("local-100", 100, "local"),
        Scenario("local-1000", 1000, "local"),
        # With both optional artifacts (issue 16): their bytes and the build step's time and
        # peak RSS at 10,000 posts. The floor builds neither, so its ratio carries them.
        Scenario("local-10000", 10_000, "local", exports=("search.db", "export.sql")),
        Scenario("api-100", 100, "api", latency_ms=300, tokens_per_minute=1_000_000),
        Scenario("api-1000", 1000, "api", latency_ms=300, tokens_per_minute=1_000_000),
        Scenario("api-10000", 10_000, "api", latency_ms=300, tokens_per_minute=1_000_000),
        Scenario("api-100-vision", 100, "api", 300, tokens_per_minute=1_000_000, descriptions=True),
        *_real("go-blog"),
        *_real("hugo-docs"),
        *_real("jekyll-docs"),
        *_real(REAL_MIX, 10_000),
    )
}
GENERATED_SET = ("local-100", "local-1000", "local-10000", "api-100", "api-1000", "api-100-vision")
# Every shared corpus three ways; the 10,000-post mix with the local embedder only (its API
# runs beside the peer take several minutes each: `--scenarios real-mix-10000-api0`).
REAL_SET = (
    *(s.name for c in ("go-blog", "hugo-docs", "jekyll-docs") for s in _real(c)),
    "real-mix-10000-local",
)
PEER_SET = tuple(n for n in REAL_SET if SCENARIOS[n].peer)
DEFAULT = (*GENERATED_SET, *REAL_SET)
SETS: dict[str, tuple[str, ...]] = {
    "default": DEFAULT,
    "generated": GENERATED_SET,
    "real": REAL_SET,
    "peer": PEER_SET,
    "all": tuple(SCENARIOS),
}


def expand(names: list[str]) -> list[str]:
    """Scenario names with every set name (`SETS`) replaced by its scenarios, in order, once."""
    out: list[str] = []
    for name in names:
        for n in SETS.get(name, (name,)):
            if n not in out:
                out.append(n)
    return out
