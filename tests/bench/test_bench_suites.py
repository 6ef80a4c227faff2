"""Every benchmark suite runs once on a tiny input, so `make bench` cannot rot unnoticed.

No number is checked (benchmarks are not pass/fail tests): only that each suite runs to the end
against the real stack, and writes its results file, with provenance, and its plot. The suites
run as `python -m bench.<suite> --tiny`, exactly as `make bench` starts them, with their output
in a temporary folder (bench/results/ is never touched). Runs from a plain clone: the tiny
inputs are built from faces that ship in PyPI packages.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

SUITES = {
    "accuracy": ("facefleet", "deepface_verify", "comparison", "sanity_sets"),
    "enrolment_accuracy": ("protocol", "counts", "refusals", "verification", "identification"),
    "engine": ("latency_per_chip", "throughput", "equality"),
    "login_latency": ("by_resolution",),
    "identify": ("index", "http", "deepface_find", "synthesis"),
    "load": ("levels", "single_request_rate_per_s", "errors_total", "memory"),
    "memory": ("under_load", "idle_mib", "recognizer_peak_mb"),
    "sync": ("propagation", "idle", "catch_up", "consistency"),
}

pytestmark = [pytest.mark.slow, pytest.mark.timeout(600)]


@pytest.mark.parametrize("suite", sorted(SUITES))
def test_suite_runs_on_tiny_input(suite: str, tmp_path: Path) -> None:
    env = {**os.environ, "DEEPFACE_HOME": os.environ.get("DEEPFACE_HOME", str(ROOT / ".cache" / "deepface"))}
    proc = subprocess.run(
        [sys.executable, "-m", f"bench.{suite}", "--tiny", "--out", str(tmp_path)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=540,
    )
    assert proc.returncode == 0, f"stdout:\n{proc.stdout[-3000:]}\nstderr:\n{proc.stderr[-3000:]}"
    doc = json.loads((tmp_path / f"{suite}.json").read_text())
    assert doc["suite"] == suite and doc["tiny"] is True
    assert doc["machine"]["cores"] and doc["machine"]["cpu_model"] is not None
    assert doc["versions"]["deepface"] and doc["git_rev"]
    for key in SUITES[suite]:
        assert key in doc, f"{suite}.json lacks {key!r}"
    for plot in doc["plots"]:
        assert (tmp_path / plot).stat().st_size > 1000, plot
