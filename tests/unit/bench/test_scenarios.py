"""bench/scenarios.py: the named sets resolve to known scenarios, and every real corpus runs
with the local embedder beside the floors and at 0 and 300 ms beside the peer."""

from __future__ import annotations

from bench.real_corpus import REAL_CORPORA
from bench.scenarios import DEFAULT, SCENARIOS, SETS, expand


def test_sets_expand_to_known_scenarios_once_in_order() -> None:
    for names in SETS.values():
        assert set(names) <= set(SCENARIOS)
    assert expand(["default"]) == list(DEFAULT)
    assert expand(["local-100", "generated", "local-100"])[0] == "local-100"
    assert len(expand(["real", "peer"])) == len(SETS["real"])


def test_every_real_corpus_runs_three_ways_by_default() -> None:
    for corpus in REAL_CORPORA:
        runs = {s.embedder + str(s.latency_ms): s for s in SCENARIOS.values() if s.corpus == corpus}
        assert set(runs) == {"local0", "api0", "api300"}
        assert runs["local0"].floor and not runs["local0"].peer
        assert runs["api0"].peer and runs["api300"].peer
        assert all(s.name in DEFAULT for s in runs.values())
    assert "real-mix-10000-local" in DEFAULT
    assert SCENARIOS["real-mix-10000-local"].posts == 10_000
