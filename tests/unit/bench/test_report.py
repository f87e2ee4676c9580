"""bench/report.py's real-corpus table: ratios per corpus and latency, and a missing peer
said, not dropped."""

from __future__ import annotations

from typing import Any

from bench.report import exports_table, real_corpora


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


def test_exports_table_lists_the_optional_files_of_the_scenarios_that_build_them() -> None:
    mib = 1024 * 1024
    rows = [
        _row(
            "local-10000", "local", 0, corpus="generated",
            exports=["search.db", "export.sql"],
            file_bytes={"posts.json": 5 * mib, "search.db": 80 * mib, "export.sql.gz": 60 * mib},
            steps={"build-artifacts": 12.5}, step_peak_rss_mb={"build-artifacts": 310.0},
        ),
        _row("local-100", "local", 0, corpus="generated"),
    ]  # fmt: skip
    text = "\n".join(exports_table(rows))
    assert (
        "| local-10000 | search.db, export.sql | export.sql.gz 60.0 MiB, search.db 80.0 MiB "
        "| 12.50 (310) |" in text
    )
    assert "posts.json" not in text and "| local-100 |" not in text
    assert exports_table([rows[1]]) == []
