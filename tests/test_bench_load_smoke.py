"""The load benchmark's harness, in the reduced form CI runs: a tiny SQLite database, short rows.

No timing assertions: the speed targets live in ``benchmarks/load.py`` (``make bench-load``).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
LIST_PATHS = ("/api/v1/items", "/api/v1/listings", "/api/v1/leads", "/api/v1/deliveries")


def test_quick_load_run_measures_every_endpoint_against_the_bare_app(tmp_path: Path) -> None:
    out = tmp_path / "load.json"
    done = subprocess.run(
        [
            sys.executable,
            str(ROOT / "benchmarks" / "load.py"),
            "--quick",
            "--databases=sqlite",
            "--items=60",
            "--listings=180",
            "--leads=20",
            "--messages=200",
            "--connections=4",
            "--duration=0.5",
            "--warmup=0.2",
            f"--json={out}",
        ],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode in (0, 1), done.stderr[-3000:]
    report = json.loads(out.read_text())
    rows = {(r["setup"], r["path"], r["phase"]): r["result"] for r in report["rows"]}
    expected = [("sqlite", p, phase) for p in LIST_PATHS for phase in ("alone", "jobs")]
    expected += [("sqlite", "/healthz", "alone"), ("sqlite", "/api/v1/users/me", "alone")]
    expected += [("bare", p, "alone") for p in (*LIST_PATHS, "/healthz", "/api/v1/users/me")]
    assert sorted(rows) == sorted(expected)
    for key, result in rows.items():
        assert result["requests"] > 0, key
        assert result["errors"] == 0, key
        assert 0 < result["p50_ms"] <= result["p99_ms"] <= result["max_ms"], key
        assert result["rps"] > 0, key
    # The bare app answers the very bytes the server answered: same size on every path.
    for path in (*LIST_PATHS, "/healthz"):
        assert (
            rows[("bare", path, "alone")]["bytes_per_response"] == rows[("sqlite", path, "alone")]["bytes_per_response"]
        )
    # A 50-row page of 60 items is much larger than one item.
    assert rows[("sqlite", "/api/v1/items", "alone")]["bytes_per_response"] > 50 * 200
    # The scheduler phase really ran jobs through the API.
    runs = report["jobs"]["sqlite"]
    assert sum(sum(states.values()) for states in runs.values()) > 0
    figures = {c["figure"]: c for c in report["checks"]}
    assert {"/api/v1/items (SQLite) vs bare", "middleware cost on /healthz"} <= set(figures)
    assert (done.returncode == 0) == all(c["ok"] for c in report["checks"])
    assert "| sqlite | /api/v1/items | alone |" in done.stdout
