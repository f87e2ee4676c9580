"""bench/report.py's real-corpus table: ratios per corpus and latency, and a missing peer
said, not dropped."""

from __future__ import annotations

from typing import Any

from bench.report import real_corpora


def _row(name: str, embedder: str, latency: int, **extra: Any) -> dict[str, Any]:
    return {
        "scenario": name, "corpus": "go-blog", "posts": 338, "embedder": embedder,
        "latency_ms": latency, "wall_s": 10.0, "floor_s": 0.0, "steps": {},
        "worker_peak_rss_mb": 180.0, "embedding_requests": 4, **extra,
    }  # fmt: skip


def test_real_corpora_ratios_and_missing_peer() -> None:
    rows = [
        _row(
            "real-go-blog-local", "local", 0, floor_s=5.0,
            steps={"parse": 3.0, "load-database": 4.0},
            physical_phases={"tokenize": 1.5, "load": 1.0},
        ),
        _row(
            "real-go-blog-api0", "api", 0, peer_s=4.0, ratio_to_peer=2.5, peer_missing=None,
            peer_phases={"read": 0.1}, peer_nodes=9, peer_rows=9, peer_embedding_requests=2,
        ),
        _row("real-go-blog-api300", "api", 300, peer_s=None, peer_missing="missing: no venv"),
        _row("local-100", "local", 0, corpus="generated"),
    ]  # fmt: skip
    text = "\n".join(real_corpora(rows))
    [line] = [x for x in text.splitlines() if x.startswith("| go-blog ")]
    cells = [c.strip() for c in line.strip("|").split("|")]
    assert cells[2].endswith("**2.00x**")  # parse 3.0 / tokenize 1.5
    assert cells[3].endswith("**4.00x**")  # load 4.0 / physical load 1.0
    assert cells[4].endswith("**2.00x**")  # wall 10 / floor.py 5
    assert cells[5].endswith("**2.50x**")  # wall 10 / peer 4 at 0 ms
    assert cells[6] == "missing: no venv"
    assert "local-100" not in text
    assert "| real-go-blog-api300 | 10.00 s | missing: no venv |" in text


def test_no_real_rows_no_table() -> None:
    assert real_corpora([_row("local-100", "local", 0, corpus="generated")]) == []
