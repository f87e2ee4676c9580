"""`make bench-smoke` in the test suite: the 100-post scenario runs end to end (its own
Temporal dev server, Postgres, worker and API processes, the floor, a short API load) and
the report carries every field. Numbers are not asserted: they belong to the machine."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from bench.report import REQUIRED_FIELDS

REPO_ROOT = next(p for p in Path(__file__).resolve().parents if (p / "pyproject.toml").is_file())


def test_bench_smoke_completes_with_every_field(tmp_path: Path) -> None:
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "bench.run",
            "--scenarios",
            "local-100",
            "--runs",
            "1",
            "--load-requests",
            "40",
            "--out",
            str(tmp_path),
        ],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=400,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    doc = json.loads((tmp_path / "latest.json").read_text())
    assert (tmp_path / "latest.md").read_text().startswith("Bench of ")
    [scenario] = doc["scenarios"]
    missing = [f for f in REQUIRED_FIELDS if f not in scenario]
    assert not missing, missing
    assert scenario["posts"] == 100 and scenario["runs"] == 1
    assert scenario["rows_loaded"] > 0 and scenario["artifact_bytes"] > 0
    assert scenario["history_events"] > 0 and scenario["largest_payload"] > 0
    assert {"fetch", "parse", "embed-text", "load-database"} <= set(scenario["steps"])
    cases = {load["case"].split(" (")[0] for load in scenario["load"]}
    assert {"POST /process", "GET /search", "GET /jobs/{id}"} <= cases, scenario["load"]
    for load in scenario["load"]:
        assert load["requests"] > 0 and load["p50_ms"] > 0, load
        assert set(load["statuses"]) <= {"200", "202"}, load
