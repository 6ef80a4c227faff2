"""The baseline a user would write: plain DeepFace with model_name="Dlib" and every default.

Defaults of DeepFace 0.0.103: detector `opencv` (Haar cascade), align=True, cosine distance,
threshold 0.07 (`find_threshold("Dlib", "cosine")`), enforce_detection=True (an image without a
detected face raises ValueError). `verify` embeds EVERY detected face of both images and takes
the smallest distance over all combinations; `represent` + `pair_distance` below do exactly
that, so one embedding per image can be reused across many pairs (checked against `verify`
itself in the accuracy suite).

Results are cached under .cache/bench/ keyed by the DeepFace version and the image path, so a
second `make bench` only scores. Work runs in at most `processes` niced worker processes.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable, Iterable
from concurrent.futures import ProcessPoolExecutor
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np

from bench.harness import ROOT, log

MODEL = "Dlib"
METRIC = "cosine"
CACHE_DIR = ROOT / ".cache" / "bench"


def threshold() -> float:
    from deepface.modules.verification import find_threshold

    return float(find_threshold(MODEL, METRIC))


def _quiet() -> None:
    os.environ.setdefault("DEEPFACE_HOME", str(ROOT / ".cache" / "deepface"))
    os.environ.setdefault("DEEPFACE_LOG_LEVEL", "40")
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")


def _init_worker() -> None:
    _quiet()
    from deepface import DeepFace

    DeepFace.build_model(MODEL)


def verify_pair(args: tuple[str, str]) -> tuple[float | None, str | None, float]:
    """DeepFace.verify(a, b, model_name="Dlib") with defaults: (distance, error, seconds)."""
    from deepface import DeepFace

    a, b = args
    t0 = time.perf_counter()
    try:
        r = DeepFace.verify(a, b, model_name=MODEL, silent=True)
        return float(r["distance"]), None, time.perf_counter() - t0
    except ValueError as exc:  # enforce_detection: no face in one of the images
        msg = str(exc) + " " + str(exc.__cause__ or "")
        which = "img1" if "img1" in msg else "img2" if "img2" in msg else "?"
        return None, f"no_face:{which}", time.perf_counter() - t0


def represent_image(path: str) -> tuple[list[list[float]] | None, str | None, float]:
    """DeepFace.represent(path, model_name="Dlib") with defaults: every face's embedding."""
    from deepface import DeepFace

    t0 = time.perf_counter()
    try:
        faces = DeepFace.represent(path, model_name=MODEL)
        return [list(map(float, f["embedding"])) for f in faces], None, time.perf_counter() - t0
    except ValueError:
        return None, "no_face", time.perf_counter() - t0


def pair_distance(a: list[list[float]] | None, b: list[list[float]] | None) -> float:
    """verify's rule: the smallest cosine distance over all face combinations; inf when an image
    had no face (verify raises there: the pair is scored as a rejection)."""
    from deepface.modules.verification import find_distance

    if not a or not b:
        return float("inf")
    return min(float(find_distance(np.asarray(x), np.asarray(y), METRIC)) for x in a for y in b)


class JsonCache:
    """A dict persisted as JSON under .cache/bench/, one file per kind and DeepFace version."""

    def __init__(self, kind: str, directory: Path = CACHE_DIR) -> None:
        version = metadata.version("deepface")
        self.path = directory / f"deepface-{version}-{MODEL}-{kind}.json"
        self.data: dict[str, Any] = json.loads(self.path.read_text()) if self.path.is_file() else {}

    def save(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text(json.dumps(self.data))
        tmp.replace(self.path)


def run_cached(
    kind: str,
    fn: Callable[[Any], Any],
    items: Iterable[tuple[str, Any]],
    *,
    processes: int,
    cache_dir: Path = CACHE_DIR,
    what: str = "items",
) -> dict[str, Any]:
    """Map `fn` over the (key, argument) items not cached yet, in a process pool; all results by key."""
    cache = JsonCache(kind, cache_dir)
    items = list(items)
    todo = [(k, a) for k, a in items if k not in cache.data]
    if todo:
        log(
            f"DeepFace baseline: {len(todo)} {what} to compute ({len(items) - len(todo)} cached), {processes} processes"
        )
        t0 = time.time()
        with ProcessPoolExecutor(max_workers=processes, initializer=_init_worker) as pool:
            for n, ((key, _), res) in enumerate(
                zip(todo, pool.map(fn, [a for _, a in todo], chunksize=4), strict=True), 1
            ):
                cache.data[key] = res
                if n % 100 == 0:
                    cache.save()
                    log(f"  {n}/{len(todo)} {what}, {n / (time.time() - t0):.1f}/s")
        cache.save()
    return {k: cache.data[k] for k, _ in items}
