"""LFW View 1 for the face pipeline: pairs, extra impostor/genuine sets, cached embeddings.

Reused by `make calibrate` (recognizer.calibration.calibrate) and the benchmark suite. Images are read from
../shared/data/faces/lfw (or $FACEFLEET_LFW) and never copied; embeddings are cached under
.cache/lfw/, keyed by the pipeline configuration, so a re-run only embeds what is new.

Evaluation protocol (LFW's, not the service's): the subject of an LFW image is the face in
the middle, and background faces are common. So evaluation takes the detected face nearest
the image centre (the service would answer multiple_faces for some of these images), and when
no face is detected at all it embeds a fixed centre box (the median detected box) instead of
dropping the pair. Both counts are reported; the service itself still answers no_face.
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import time
from collections.abc import Callable, Iterable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from recognizer import defaults
from recognizer.calibration.provenance import ROOT, SHARED, use_seeded_weights
from recognizer.faces.protocol import Box

if TYPE_CHECKING:
    from recognizer.faces.embedder import FaceEmbedder

DEFAULT_LFW = SHARED / "data" / "faces" / "lfw"
CACHE_DIR = ROOT / ".cache" / "lfw"
#: what an embedded image returns from a worker: (rel, vector or None, status, box, seconds).
EmbeddedImage = tuple[str, "np.ndarray | None", str, "Box | None", float]


def lfw_root() -> Path:
    return Path(os.environ.get("FACEFLEET_LFW", DEFAULT_LFW))


def image_rel(name: str, index: int) -> str:
    """Path of an LFW image relative to the LFW root."""
    return f"lfw-deepfunneled/{name}/{name}_{index:04d}.jpg"


def person_of(rel: str) -> str:
    return rel.split("/")[1]


@dataclass(frozen=True)
class Pair:
    a: str  # image paths relative to the LFW root
    b: str
    same: bool


def read_pairs(path: Path) -> list[Pair]:
    """Standard LFW pairs file: a count header, then `name i j` or `name1 i name2 j` lines."""
    pairs = []
    for line in path.read_text().splitlines()[1:]:
        f = line.split("\t")
        if len(f) == 3:
            pairs.append(Pair(image_rel(f[0], int(f[1])), image_rel(f[0], int(f[2])), True))
        elif len(f) == 4:
            pairs.append(Pair(image_rel(f[0], int(f[1])), image_rel(f[2], int(f[3])), False))
    return pairs


def people_in(pairs: Iterable[Pair]) -> set[str]:
    return {person_of(r) for p in pairs for r in (p.a, p.b)}


def image_counts(root: Path) -> dict[str, int]:
    """Images per person, from the folder listing."""
    base = root / "lfw-deepfunneled"
    return {d.name: sum(1 for _ in d.glob("*.jpg")) for d in sorted(base.iterdir()) if d.is_dir()}


@dataclass
class HeldOut:
    """Large verification sets from LFW people who are not in pairsDevTrain.txt.

    Drawn with `random.Random(seed)`: `max_people` of those people at random (all by default);
    one random image per person (the impostor pool); `impostor_pairs` distinct unordered pairs
    of pool images drawn uniformly (the people always differ, as each person has one pool
    image); and one genuine pair per chosen person with at least two images (two distinct
    random images).
    """

    seed: int
    people: int
    impostors: list[Pair]
    genuines: list[Pair]

    def images(self) -> set[str]:
        return {r for p in self.impostors + self.genuines for r in (p.a, p.b)}


def held_out(
    root: Path, exclude: set[str], *, seed: int, impostor_pairs: int, max_people: int | None = None
) -> HeldOut:
    rng = random.Random(seed)
    counts = {p: c for p, c in image_counts(root).items() if p not in exclude and c > 0}
    people = sorted(counts)
    if max_people is not None and max_people < len(people):
        people = sorted(rng.sample(people, max_people))
    pool = [image_rel(p, rng.randint(1, counts[p])) for p in people]
    n = len(pool)
    total = n * (n - 1) // 2
    if impostor_pairs > total:
        raise ValueError(f"only {total} impostor pairs exist among {n} people")
    chosen: set[tuple[int, int]] = set()
    while len(chosen) < impostor_pairs:
        i, j = rng.randrange(n), rng.randrange(n)
        if i != j:
            chosen.add((min(i, j), max(i, j)))
    impostors = [Pair(pool[i], pool[j], False) for i, j in sorted(chosen)]
    genuines = []
    for p in people:
        if counts[p] >= 2:
            i, j = rng.sample(range(1, counts[p] + 1), 2)
            genuines.append(Pair(image_rel(p, i), image_rel(p, j), True))
    return HeldOut(seed=seed, people=n, impostors=impostors, genuines=genuines)


# --- embedding ----------------------------------------------------------------------------


@dataclass(frozen=True)
class PipelineConfig:
    """What determines an embedding; its hash keys the cache."""

    detector: str = defaults.DETECTOR
    detect_size: int = defaults.DETECT_SIZE
    version: str = "adaptive-chip150-pad0.25-v2"

    def key(self) -> str:
        blob = json.dumps(asdict(self), sort_keys=True).encode()
        return f"{self.detector}-{hashlib.sha256(blob).hexdigest()[:12]}"


@dataclass
class Embedded:
    """Embeddings of LFW images plus how each face was found."""

    vectors: dict[str, np.ndarray] = field(default_factory=dict)
    status: dict[str, str] = field(default_factory=dict)  # single | centre_of_many | centre_box
    boxes: dict[str, Box] = field(default_factory=dict)
    seconds: dict[str, float] = field(default_factory=dict)  # decode + detect + embed, one image

    def counts(self, rels: Iterable[str] | None = None) -> dict[str, int]:
        keys = self.status if rels is None else rels
        out: dict[str, int] = {}
        for r in keys:
            out[self.status[r]] = out.get(self.status[r], 0) + 1
        return out


_WORKER: FaceEmbedder | None = None


def _init_worker(cfg: PipelineConfig) -> None:
    global _WORKER
    use_seeded_weights()
    from recognizer.faces.embedder import FaceEmbedder

    _WORKER = FaceEmbedder.load(detector=cfg.detector, min_face_px=40, detect_size=cfg.detect_size)


def _embed_one(args: tuple[str, str, Box | None]) -> EmbeddedImage:
    """Embed one image: the detected face nearest the centre, or the given fallback box."""
    from recognizer.faces.images import decode_image

    assert _WORKER is not None, "worker not initialised"
    root, rel, fallback = args
    t0 = time.perf_counter()
    rgb = decode_image((Path(root) / rel).read_bytes())
    if fallback is not None:
        vec = _WORKER.embed_box(rgb, fallback)
        return rel, vec, "centre_box", fallback, time.perf_counter() - t0
    boxes = _WORKER.detect(rgb)
    if not boxes:
        return rel, None, "none", None, time.perf_counter() - t0
    h, w = rgb.shape[:2]
    box = min(boxes, key=lambda b: (b[0] + b[2] / 2 - w / 2) ** 2 + (b[1] + b[3] / 2 - h / 2) ** 2)
    vec = _WORKER.embed_box(rgb, box)
    return rel, vec, "single" if len(boxes) == 1 else "centre_of_many", box, time.perf_counter() - t0


class Cache:
    """An .npz of embeddings per pipeline configuration under .cache/lfw/."""

    def __init__(self, cfg: PipelineConfig, directory: Path = CACHE_DIR) -> None:
        self.path = directory / f"embeddings-{cfg.key()}.npz"

    def load(self) -> Embedded:
        out = Embedded()
        if self.path.is_file():
            with np.load(self.path, allow_pickle=False) as z:
                meta = json.loads(str(z["meta"]))
                # z["vectors"] decompresses the whole array on every access: read it once (indexing it
                # per image kept one full copy alive per cached image: gigabytes for a few thousand).
                vectors = np.array(z["vectors"], dtype=np.float32)
                for i, rel in enumerate(meta["rels"]):
                    out.vectors[rel] = vectors[i]
                    out.status[rel] = meta["status"][i]
                    out.boxes[rel] = tuple(meta["boxes"][i])
                    out.seconds[rel] = meta["seconds"][i]
        return out

    def save(self, emb: Embedded) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        rels = sorted(emb.vectors)
        meta = {
            "rels": rels,
            "status": [emb.status[r] for r in rels],
            "boxes": [list(emb.boxes[r]) for r in rels],
            "seconds": [emb.seconds[r] for r in rels],
        }
        vectors = np.stack([emb.vectors[r] for r in rels]) if rels else np.zeros((0, 128), np.float32)
        tmp = self.path.with_name(self.path.stem + ".tmp.npz")
        np.savez(tmp, vectors=vectors, meta=np.array(json.dumps(meta)))
        tmp.replace(self.path)


def embed_images(
    rels: Iterable[str],
    cfg: PipelineConfig = PipelineConfig(),
    *,
    root: Path | None = None,
    processes: int = 2,
    log: Callable[[str], object] = print,
) -> Embedded:
    """Embed every image (cached), with at most `processes` worker processes."""
    root = root or lfw_root()
    cache = Cache(cfg)
    emb = cache.load()
    todo = sorted(set(rels) - set(emb.vectors))
    if todo:
        log(
            f"embedding {len(todo)} LFW images with {cfg.detector} ({len(emb.vectors)} cached) in {processes} processes"
        )
    missing: list[str] = []
    t0 = time.time()
    with ProcessPoolExecutor(max_workers=processes, initializer=_init_worker, initargs=(cfg,)) as pool:
        for n, (rel, vec, status, box, secs) in enumerate(
            pool.map(_embed_one, [(str(root), r, None) for r in todo], chunksize=8), 1
        ):
            if vec is None or box is None:
                missing.append(rel)
            else:
                emb.vectors[rel], emb.status[rel], emb.boxes[rel], emb.seconds[rel] = vec, status, box, secs
            if n % 200 == 0:
                cache.save(emb)
                log(f"  {n}/{len(todo)} images, {n / (time.time() - t0):.1f}/s")
        if missing:
            fallback = centre_box(emb)
            log(f"  {len(missing)} images without a detected face: embedding the centre box {fallback}")
            for rel, vec, status, _, secs in pool.map(_embed_one, [(str(root), r, fallback) for r in missing]):
                assert vec is not None, "a given box is always embedded"
                emb.vectors[rel], emb.status[rel], emb.boxes[rel], emb.seconds[rel] = vec, status, fallback, secs
    if todo:
        cache.save(emb)
    return emb


def centre_box(emb: Embedded) -> Box:
    """The median box of the faces detected so far (LFW deep-funneled images are aligned)."""
    boxes = np.array([b for r, b in emb.boxes.items() if emb.status[r] != "centre_box"])
    if len(boxes) == 0:
        return (70, 70, 110, 110)
    x, y, w, h = (int(v) for v in np.median(boxes, axis=0))
    return (x, y, w, h)


def pair_distances(pairs: list[Pair], emb: Embedded) -> tuple[np.ndarray, np.ndarray]:
    """(distances, same) for the pairs, using the one decision metric."""
    from recognizer.faces import metric

    a = np.stack([emb.vectors[p.a] for p in pairs])
    b = np.stack([emb.vectors[p.b] for p in pairs])
    d = np.array([metric.distance(x, y) for x, y in zip(a, b, strict=True)])
    return d, np.array([p.same for p in pairs])
