"""bench/ui_login_time.py runs to the end on a tiny input (so `make ui-bench` cannot rot); no
number is checked here: timings are bench/'s business, not a test's."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from facefleet_testing import ui_browser

ROOT = Path(__file__).resolve().parents[2]

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.timeout(600)]


def test_ui_bench_runs_on_tiny_input(tmp_path: Path) -> None:
    if not ui_browser.available():
        pytest.skip("Chromium is not installed: run `make test-setup` (mk/ui.mk installs chromium)")
    proc = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "ui_login_time.py"), "--tiny", "--out", str(tmp_path)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=570,
    )
    if proc.returncode != 0 and "unshare(CLONE_NEWNET) failed" in proc.stderr:
        pytest.skip("the ui bench needs a private network namespace (run as root)")
    assert proc.returncode == 0, f"stdout:\n{proc.stdout[-3000:]}\nstderr:\n{proc.stderr[-3000:]}"
    doc = json.loads((tmp_path / "ui_login_time.json").read_text())
    assert doc["tiny"] is True and doc["login_start_to_welcome"]["n"] == 1
    assert set(doc["stream_starts"]) == {"fix_on", "fix_off"}
    assert doc["baseline_http_login"]["n"] == 1 and doc["ratio_page_to_http_login"] is not None
