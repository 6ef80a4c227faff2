"""The package's layering: HTTP only in api/, the composition root outside it, one Embedder protocol."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import recognizer
from recognizer.service import Recognizer

PACKAGE = Path(recognizer.__file__).parent


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
    return names


def test_the_offline_commands_and_the_wiring_load_no_web_layer():
    code = (
        "import sys, recognizer.cli, recognizer.wiring, recognizer.runtime; "
        "print(sorted(m for m in sys.modules if m.startswith(('recognizer.api', 'fastapi', 'uvicorn'))))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]", out


def test_only_api_and_the_serve_command_import_the_http_layer():
    for path in PACKAGE.rglob("*.py"):
        rel = path.relative_to(PACKAGE).as_posix()
        if rel.startswith("api/") or rel == "cli.py":
            continue
        web = {m for m in _imports(path) if m.startswith(("recognizer.api", "fastapi", "starlette", "uvicorn"))}
        assert not web, f"{rel} imports {web}"


def test_calibration_stands_apart_from_bench_and_the_service():
    for path in (PACKAGE / "calibration").glob("*.py"):
        assert not {m for m in _imports(path) if m == "bench" or m.startswith("bench.")}, path.name
    for path in PACKAGE.rglob("*.py"):
        rel = path.relative_to(PACKAGE).as_posix()
        if not rel.startswith("calibration/"):
            assert not {m for m in _imports(path) if m.startswith("recognizer.calibration")}, rel


def test_verify_and_identify_are_separate_use_cases():
    assert callable(Recognizer.verify) and callable(Recognizer.identify)
    assert not hasattr(Recognizer, "login")


def test_both_embedders_implement_the_protocol():
    """mypy checks the full protocol (wiring.load_embedder returns either as an Embedder); this, its methods."""
    from recognizer.faces.embedder import FaceEmbedder
    from recognizer.faces.pool import EmbedderPool
    from recognizer.faces.protocol import Embedder

    wanted = {name for name in vars(Embedder) if not name.startswith("_")}
    assert wanted == {"embed", "embed_many", "close", "detector_name", "model_name"}
    for cls in (FaceEmbedder, EmbedderPool):
        assert callable(cls.embed) and callable(cls.embed_many) and callable(cls.close), cls
    assert isinstance(EmbedderPool.detector_name, property) and isinstance(EmbedderPool.model_name, property)
