"""The bench report: JSON (everything) and a markdown summary (the README's tables).

`REQUIRED_FIELDS` is the contract `tests/test_bench_smoke.py` checks: every scenario carries
every field the issue asks for.
"""

from __future__ import annotations

import json
import os
import platform
import tempfile
from pathlib import Path
from typing import Any

REQUIRED_FIELDS = (
    "wall_s",
    "wall_s_runs",
    "floor_s",
    "ratio_to_floor",
    "steps",
    "embedding_requests",
    "embedding_inputs",
    "worker_peak_rss_mb",
    "api_peak_rss_mb",
    "history_events",
    "history_bytes",
    "largest_payload",
    "rows_loaded",
    "artifact_bytes",
)
STEP_ORDER = (
    "fetch",
    "parse",
    "embed-text",
    "embed-images",
    "thumbnails",
    "load-database",
    "build-artifacts",
    "publish",
    "switch-revision",
    "callback",
    "cleanup",
)


def machine() -> dict[str, Any]:
    return {
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
        "platform": platform.platform(terse=True),
        # Other work on the machine while the bench ran (1, 5, 15 min), taken at the end.
        "loadavg": [round(x, 2) for x in os.getloadavg()],
        "tmpdir": tempfile.gettempdir(),
    }


def _kib(n: int) -> str:
    return f"{n / 1024:.1f} KiB"


def _optional_files(r: dict[str, Any]) -> str:
    """The optional artifacts' share of the artifacts' bytes, e.g. " (search.db 3.1 MiB)"."""
    files = r.get("file_bytes") or {}
    parts = [f"{name} {_mib(files[name])}" for name in ("search.db", "export.sql") if name in files]
    return f" ({', '.join(parts)})" if parts else ""


def _mib(n: int) -> str:
    return f"{n / 1024 / 1024:.1f} MiB"


def _step_cell(seconds: float | None, peak_mb: float | None) -> str:
    if seconds is None:
        return "-"
    # No RSS sample fell inside a step shorter than the sampling interval.
    return f"{seconds:.2f} ({peak_mb:.0f})" if peak_mb else f"{seconds:.2f}"


def _ratio(a: float | None, b: float | None) -> str:
    """`a / b = rx`, or `-` when either is unknown."""
    if not a or not b:
        return "-"
    return f"{a:.2f} / {b:.2f} s = **{a / b:.2f}x**"


def _peer_cell(row: dict[str, Any] | None) -> str:
    if row is None:
        return "-"
    if row.get("peer_missing"):
        return str(row["peer_missing"])
    return _ratio(row["wall_s"], row.get("peer_s"))


def real_corpora(rows: list[dict[str, Any]]) -> list[str]:
    """The per-corpus ratios of issue 12: Pressroom against the floors and the peer."""
    by_corpus: dict[str, dict[str, dict[str, Any]]] = {}
    for r in rows:
        if r.get("corpus", "generated") == "generated":
            continue
        key = "local" if r["embedder"] == "local" else f"api{r['latency_ms']}"
        by_corpus.setdefault(r["corpus"], {})[key] = r
    if not by_corpus:
        return []
    out = [
        "",
        "Real corpora: Pressroom's wall and steps (from the job's own workflow history) against "
        "the physical floor (bench/physical_floor.py: tokenize = the Markdown library alone, "
        "load = COPY of the same rows into unindexed tables + the same indexes), floor.py "
        "(Pressroom without Temporal) and the LlamaIndex peer (bench/peer.py, same server, "
        "batch size and Postgres):",
        "",
        "| corpus | posts | parse / tokenize floor | load / physical load floor "
        "| wall / floor.py | wall / peer, 0 ms | wall / peer, 300 ms | worker peak RSS |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for corpus, runs in by_corpus.items():
        local = runs.get("local")
        physical = (local or {}).get("physical_phases") or {}
        steps = (local or {}).get("steps") or {}
        peaks = [r["worker_peak_rss_mb"] for r in runs.values()]
        posts = max(r["posts"] for r in runs.values())
        out.append(
            f"| {corpus} | {posts:,} "
            f"| {_ratio(steps.get('parse'), physical.get('tokenize'))} "
            f"| {_ratio(steps.get('load-database'), physical.get('load'))} "
            f"| {_ratio((local or {}).get('wall_s'), (local or {}).get('floor_s'))} "
            f"| {_peer_cell(runs.get('api0'))} | {_peer_cell(runs.get('api300'))} "
            f"| {max(peaks):.0f} MB |"
        )
    peers = [r for r in rows if "peer_s" in r and (r.get("peer_s") or r.get("peer_missing"))]
    if peers:
        out += [
            "",
            "Pressroom and the peer, interleaved (Pressroom, peer, Pressroom, peer, ...), "
            "medians; the peer embeds and stores text only (no images, thumbnails, related "
            "posts or artifacts):",
            "",
            "| scenario | Pressroom wall | peer wall | Pressroom / peer | peer nodes / rows "
            "| embed requests Pressroom / peer "
            "| peer: read / parse / embed / insert / index |",
            "|---|---:|---:|---:|---:|---:|---:|",
        ]
        for r in peers:
            if r.get("peer_missing"):
                out.append(
                    f"| {r['scenario']} | {r['wall_s']:.2f} s | {r['peer_missing']} | - | - "
                    f"| {r['embedding_requests']:,} / - | - |"
                )
                continue
            ph = r["peer_phases"]
            phases = " / ".join(
                f"{ph.get(k, 0):.2f}" for k in ("read", "parse", "embed", "insert", "index")
            )
            out.append(
                f"| {r['scenario']} | {r['wall_s']:.2f} s | {r['peer_s']:.2f} s "
                f"| **{r['ratio_to_peer']:.2f}x** | {r['peer_nodes']:,} / {r['peer_rows']:,} "
                f"| {r['embedding_requests']:,} / {r['peer_embedding_requests']:,} | {phases} |"
            )
    return out


def markdown(doc: dict[str, Any]) -> str:
    rows = doc["scenarios"]
    out = [
        f"Bench of {doc['startedAt']} on {doc['machine']['cpus']} CPUs (load average at the "
        f"end {doc['machine'].get('loadavg')}, TMPDIR {doc['machine'].get('tmpdir')}), "
        f"median of {doc['runs']} runs (`{doc['command']}`).",
        "",
        "| scenario | posts | wall (median) | floor | ratio | 2nd site | worker peak RSS "
        "| API peak RSS "
        "| embed requests / inputs | history events / bytes | largest payload "
        "| rows loaded | artifacts |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        latency = f" ({r['latency_ms']} ms/req)" if r["embedder"] == "api" else ""
        second_s = r.get("second_site_wall_s")
        second = f"{second_s:.2f} s" if second_s is not None else "-"
        floor = f"{r['floor_s']:.2f} s" if r["floor_s"] else "-"
        ratio = f"{r['ratio_to_floor']:.2f}x" if r["floor_s"] else "-"
        out.append(
            f"| {r['scenario']}{latency} | {r['posts']:,} | {r['wall_s']:.2f} s "
            f"| {floor} | {ratio} | {second} "
            f"| {r['worker_peak_rss_mb']:.0f} MB | {r['api_peak_rss_mb']:.0f} MB "
            f"| {r['embedding_requests']:,} / {r['embedding_inputs']:,} "
            f"| {r['history_events']:,} / {_kib(r['history_bytes'])} "
            f"| {_kib(r['largest_payload'])} | {r['rows_loaded']:,} "
            f"| {_mib(r['artifact_bytes'])}{_optional_files(r)} |"
        )
    steps = [s for s in STEP_ORDER if any(s in r["steps"] for r in rows)]
    out += [
        "",
        "Time per step in s (median; from the workflow history, activity scheduled → "
        "completed) and, in brackets, the worker's peak RSS in MB during the step; the floor's "
        "phases in the last column:",
        "",
        "| scenario | " + " | ".join(steps) + " | floor: parse / embed / load / artifacts |",
        "|---|" + "---:|" * (len(steps) + 1),
    ]
    for r in rows:
        peaks = r.get("step_peak_rss_mb", {})
        cells = [_step_cell(r["steps"].get(s), peaks.get(s)) for s in steps]
        phases = r["floor_phases"]
        floor = (
            " / ".join(f"{phases[k]:.2f}" for k in ("parse", "embed", "load", "artifacts"))
            if phases
            else "-"
        )
        out.append(f"| {r['scenario']} | " + " | ".join(cells) + f" | {floor} |")
    out += real_corpora(rows)
    out += exports_table(rows)
    loads = [(r["scenario"], x) for r in rows for x in r.get("load", [])]
    if loads:
        out += [
            "",
            "API load on loopback (closed loop; statuses in the JSON):",
            "",
            "| case | data | requests | concurrency | throughput | p50 | p99 |",
            "|---|---|---:|---:|---:|---:|---:|",
        ]
        for scenario, x in loads:
            out.append(
                f"| {x['case']} | {scenario} | {x['requests']:,} | {x['concurrency']} "
                f"| {x['throughput_rps']:.0f} req/s | {x['p50_ms']:.1f} ms | {x['p99_ms']:.1f} ms |"
            )
    if doc.get("search_db"):
        from bench.search_db import markdown as search_db_table

        out += [
            "",
            "search.db beside search.json, built from the same work-store files "
            "(bench/search_db.py; jobs above build it too, in build-artifacts):",
            "",
            search_db_table(doc["search_db"]),
        ]
    return "\n".join(out) + "\n"


def exports_table(rows: list[dict[str, Any]]) -> list[str]:
    """The optional artifacts (issue 16) of the scenarios that build them: each file's size
    (export.sql may be export.sql.gz), beside the build step that writes them."""
    rows = [r for r in rows if r.get("exports")]
    if not rows:
        return []
    out = [
        "",
        "Optional artifacts (`data.exports`; last run's sizes; the build-artifacts step "
        "writes them with the JSON files, its time and peak RSS as above):",
        "",
        "| scenario | exports | files | build-artifacts |",
        "|---|---|---|---:|",
    ]
    for r in rows:
        files = {
            name: size
            for name, size in r.get("file_bytes", {}).items()
            if not name.endswith(".json")
        }
        sizes = ", ".join(f"{name} {_mib(size)}" for name, size in sorted(files.items()))
        step = r["steps"].get("build-artifacts")
        peak = r.get("step_peak_rss_mb", {}).get("build-artifacts")
        out.append(
            f"| {r['scenario']} | {', '.join(r['exports'])} | {sizes or '-'} "
            f"| {_step_cell(step, peak)} |"
        )
    return out


def write(doc: dict[str, Any], out_dir: Path) -> tuple[Path, Path]:
    out_dir.mkdir(parents=True, exist_ok=True)
    stamp = doc["startedAt"].replace(":", "").replace("-", "").split(".")[0]
    text = json.dumps(doc, indent=2)
    md = markdown(doc)
    json_path, md_path = out_dir / f"bench-{stamp}.json", out_dir / f"bench-{stamp}.md"
    json_path.write_text(text)
    md_path.write_text(md)
    (out_dir / "latest.json").write_text(text)
    (out_dir / "latest.md").write_text(md)
    return json_path, md_path
