"""What every benchmark suite shares: result files with provenance, timing, memory, the real stack.

- `write_result(out, name, data)` writes `<out>/<name>.json` with the machine (cores, CPU model),
  package versions and the git revision, so a number is never read without its context.
- `stack()` imports facefleet_testing.stack (tests/support; DatabaseServer, RecognizerServer): the benchmarks
  start the same real FerretDB/mongod and `python -m recognizer serve` subprocesses as the tests,
  on free 127.0.0.1 ports, instead of a second launcher.
- `Budget` bounds every loop in count AND wall time.
- `rss_kb` / `peak_rss_kb` read /proc/<pid>/status (VmRSS, VmHWM: the kernel's own peak).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from recognizer.calibration import provenance
from recognizer.calibration.provenance import machine

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results"
TESTS = ROOT / "tests"
SHARED = ROOT.parent / "shared"
DISTS = (
    "deepface",
    "dlib-bin",
    "face-recognition-models",
    "numpy",
    "opencv-contrib-python-headless",
    "pillow",
    "fastapi",
    "uvicorn",
    "pymongo",
    "httpx",
    "streamlit",
    "streamlit-webrtc",
    "pandas",
)

os.environ.setdefault("DEEPFACE_HOME", str(ROOT / ".cache" / "deepface"))


# -- provenance ------------------------------------------------------------------------------
# One definition, with the calibration (recognizer.calibration.provenance): the same fields in every result file.
def versions() -> dict[str, str | None]:
    return provenance.versions(DISTS)


def git_rev() -> str:
    """HEAD, with `-dirty` when the code that is measured (recognizer/, bench/) has local changes."""
    return provenance.git_rev(ROOT, ("recognizer", "bench"))


def write_result(out: Path, name: str, data: dict[str, Any]) -> Path:
    out.mkdir(parents=True, exist_ok=True)
    doc = {
        "suite": name,
        "finished_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "git_rev": git_rev(),
        "machine": machine(),
        "versions": versions(),
        **data,
    }
    path = out / f"{name}.json"
    path.write_text(json.dumps(doc, indent=2, default=_json_default) + "\n")
    print(f"wrote {path}")
    return path


def save_figure(fig: Any, path: Path) -> None:
    """Write a matplotlib figure as the suites' PNGs are written (tight, 90 dpi) and free it."""
    import matplotlib.pyplot as plt

    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)
    print(f"wrote {path}")


def _json_default(o: Any) -> Any:
    if hasattr(o, "tolist"):
        return o.tolist()
    if isinstance(o, Path):
        return str(o)
    raise TypeError(type(o).__name__)


# -- command line shared by the suites -------------------------------------------------------
def parser(doc: str | None) -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(description=(doc or "").strip().splitlines()[0])
    ap.add_argument(
        "--tiny",
        action="store_true",
        help="a few seconds on tiny inputs (what `make test` runs so the suite cannot rot)",
    )
    ap.add_argument("--out", type=Path, default=RESULTS, help="folder for <suite>.json and plots")
    return ap


# -- timing ----------------------------------------------------------------------------------
@dataclass
class Budget:
    """A loop bound in iterations and seconds, whichever comes first."""

    max_count: int
    max_seconds: float
    started: float = field(default_factory=time.monotonic)
    count: int = 0

    def next(self) -> bool:
        if self.count >= self.max_count or time.monotonic() - self.started >= self.max_seconds:
            return False
        self.count += 1
        return True

    @property
    def exhausted_by_time(self) -> bool:
        return time.monotonic() - self.started >= self.max_seconds


def pctl(xs: Sequence[float], q: float) -> float:
    """Percentile q in [0, 100] (linear interpolation); nan for no samples."""
    if not xs:
        return float("nan")
    s = sorted(xs)
    k = (len(s) - 1) * q / 100
    lo, hi = int(k), min(int(k) + 1, len(s) - 1)
    return s[lo] + (s[hi] - s[lo]) * (k - lo)


def summary_ms(seconds: Iterable[float]) -> dict[str, float | int]:
    xs = [1000 * s for s in seconds]
    if not xs:
        return {"n": 0}
    return {
        "n": len(xs),
        "p50_ms": round(pctl(xs, 50), 2),
        "p95_ms": round(pctl(xs, 95), 2),
        "p99_ms": round(pctl(xs, 99), 2),
        "mean_ms": round(statistics.fmean(xs), 2),
        "min_ms": round(min(xs), 2),
        "max_ms": round(max(xs), 2),
    }


def ratio(a: float, b: float) -> float | None:
    return round(a / b, 2) if b and b == b and a == a else None


# -- memory ----------------------------------------------------------------------------------
def _status_kb(pid: int, key: str, tree: bool = True) -> int | None:
    """One /proc status field in kB (support.stack.status_kb: over the process tree when `tree`)."""
    return stack().status_kb(pid, (key,), tree=tree)[key]


def rss_kb(pid: int, tree: bool = True) -> int | None:
    return _status_kb(pid, "VmRSS", tree)


def peak_rss_kb(pid: int, tree: bool = True) -> int | None:
    """The kernel's high-water mark of the resident set (VmHWM; summed over the process tree, an
    upper bound of the tree's simultaneous peak)."""
    return _status_kb(pid, "VmHWM", tree)


def mib(kb: int | None) -> float | None:
    return None if kb is None else round(kb / 1024, 1)


# -- the real stack (shared with the tests) --------------------------------------------------
def stack():
    """facefleet_testing.stack: DatabaseServer, RecognizerServer (the tests' own launchers)."""
    from facefleet_testing import stack as s

    return s


def start_database(data_dir: Path, timeout_s: float = 300.0):
    """stack.DatabaseServer started with a generous timeout (the machine may be very busy)."""
    db = stack().DatabaseServer(data_dir=data_dir)
    db.start(timeout_s=timeout_s)
    return db


def start_recognizer(mongo_url: str, workdir: Path, env: dict[str, str] | None = None, timeout_s: float = 900.0):
    """stack.RecognizerServer, waiting up to `timeout_s` for /readyz (model load on a busy machine)."""
    rec = stack().RecognizerServer.start_new(mongo_url, workdir, env, wait_ready=False)
    try:
        rec.wait(ready=True, timeout_s=timeout_s)
    except BaseException:
        rec.stop()
        raise
    return rec


def test_faces():
    """facefleet_testing.faces: faces that ship in PyPI packages (astronaut, grace_hopper, variant)."""
    from facefleet_testing import faces

    return faces


def shared_available() -> bool:
    return (SHARED / "data" / "faces").is_dir()


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", flush=True)
