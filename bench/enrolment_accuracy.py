"""Enrolment accuracy: enrol 3 LFW images per person, log in with the others, exactly as the service decides.

Beside LFW's pairs (bench/accuracy.py), a protocol shaped like the service's use: a user enrols a few
photos, later logs in with a new one. Every image goes through the service's own face pipeline in
process (`FaceEmbedder.load()` with the service's defaults, `embed(bytes)`), so refusals are the
service's: no_face, multiple_faces, face_too_small (counted per kind, for enrolment images and for
probes separately). No centre-box fallback, no "face nearest the centre" (that is calibration.lfw's
LFW protocol, which is why its cache is not used here).

- people: every LFW person with >= 4 images (../shared/data/faces/lfw or $FACEFLEET_LFW; about 610),
  or a seeded sample of --max-people of them. File names sorted: the first 3 are the enrolment.
- enrolment: the service refuses a whole enrolment request when one image is refused; the user then
  enrols again without that photo. So a person is enrolled with the usable ones of the 3 (reported:
  people enrolled with 2 or 1 faces) and skipped when none is usable (reported).
- probes: the person's remaining images, at most --probes-per-person (default 10) of them, a seeded
  sample when there are more (George_W_Bush has 527 others: without the cap 8 people would be
  half of all probes).
- 1:1 login (service.verify): distance = the minimum Euclidean distance from the probe to the user's
  enrolled faces (metric.distances over the user's float32 matrix, `_best_distance`); accepted when
  distance <= threshold (metric.is_match). Genuine: each probe against its own person. Impostor:
  each probe against every other enrolled person (all of them: ~1.5 million comparisons in the full
  run), or a seeded sample of --impostors comparisons.
- scores: TAR at FAR = 1% and 0.1% (threshold from the impostor distances, verification.tar_at_far),
  TAR/FAR at the committed DEFAULT_THRESHOLD (Wilson 95%), bootstrap 95% intervals resampling
  probes (a probe's genuine and impostor comparisons together, as they are not independent).
  TAR is given over probes the pipeline accepted and end to end (a refused probe is a failed login).
  FAR counts comparisons of accepted probes only (a refused image cannot be falsely accepted).
- 1:N identify (service.identify): each accepted genuine probe against the whole enrolled gallery;
  rank-1 rate, and the rate identified correctly AND within the threshold. Open set: a seeded
  sample of --open-set-probes images of people with exactly 1 LFW image (never enrolled); the rate
  at which the nearest enrolled person is within the threshold (a false accept).
Embeddings are cached under .cache/bench/enrolment_accuracy/, keyed by the pipeline options.
Writes enrolment_accuracy.json and enrolment_accuracy.png.
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import tempfile
import time
from collections import Counter
from collections.abc import Iterable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from bench.harness import ROOT, log, parser, save_figure, write_result
from recognizer.calibration import lfw
from recognizer.calibration.verification import tar_at_far, wilson

SEED = 20261201
ENROL = 3
MIN_IMAGES = ENROL + 1
PROBES_PER_PERSON = 10
OPEN_SET_PROBES = 1000
BOOT_ROUNDS = 500
CACHE_DIR = ROOT / ".cache" / "bench" / "enrolment_accuracy"
CACHE_VERSION = "service-rule-v1"
OK = "ok"


# -- the protocol ----------------------------------------------------------------------------
@dataclass
class Plan:
    people: list[str]  # enrolment candidates, sorted
    enrol: dict[str, list[str]]  # person -> first ENROL image rels
    probes: dict[str, list[str]]  # person -> probe rels
    open_set: list[str]  # one-image people's images (never enrolled)
    eligible: int  # people with >= MIN_IMAGES images
    probes_available: int  # images beyond the enrolment of the chosen people

    def images(self) -> list[str]:
        rels = [r for p in self.people for r in self.enrol[p] + self.probes[p]]
        return sorted(set(rels) | set(self.open_set))


def make_plan(root: Path, *, max_people: int | None, probes_per_person: int, open_set: int, seed: int = SEED) -> Plan:
    base = root / "lfw-deepfunneled"
    files = {d.name: sorted(f.name for f in d.glob("*.jpg")) for d in sorted(base.iterdir()) if d.is_dir()}
    eligible = sorted(p for p, fs in files.items() if len(fs) >= MIN_IMAGES)
    rng = random.Random(seed)
    people = eligible if max_people is None or max_people >= len(eligible) else sorted(rng.sample(eligible, max_people))
    enrol, probes, available = {}, {}, 0
    for p in people:
        rels = [f"lfw-deepfunneled/{p}/{f}" for f in files[p]]
        enrol[p] = rels[:ENROL]
        rest = rels[ENROL:]
        available += len(rest)
        probes[p] = rest if len(rest) <= probes_per_person else sorted(rng.sample(rest, probes_per_person))
    singles = sorted(f"lfw-deepfunneled/{p}/{fs[0]}" for p, fs in files.items() if len(fs) == 1)
    chosen = singles if open_set >= len(singles) else sorted(rng.sample(singles, open_set))
    return Plan(people, enrol, probes, chosen, len(eligible), available)


# -- embedding with the service's rule -------------------------------------------------------
@dataclass
class Embedded:
    vectors: dict[str, np.ndarray] = field(default_factory=dict)  # accepted images only
    status: dict[str, str] = field(default_factory=dict)  # "ok" or the FacefleetError code


def pipeline_options() -> dict[str, Any]:
    from recognizer.faces.embedder import PipelineOptions

    return asdict(PipelineOptions())  # the service's defaults (recognizer.defaults)


class Cache:
    """An .npz of service-rule embeddings and refusals under .cache/bench/enrolment_accuracy/."""

    def __init__(self, directory: Path, root: Path) -> None:
        key = {"options": pipeline_options(), "version": CACHE_VERSION, "root": str(root.resolve())}
        blob = json.dumps(key, sort_keys=True).encode()
        self.path = directory / f"embeddings-{hashlib.sha256(blob).hexdigest()[:12]}.npz"

    def load(self) -> Embedded:
        out = Embedded()
        if self.path.is_file():
            with np.load(self.path, allow_pickle=False) as z:
                meta = json.loads(str(z["meta"]))
                vectors = np.array(z["vectors"], dtype=np.float32)
            k = 0
            for rel, st in zip(meta["rels"], meta["status"], strict=True):
                out.status[rel] = st
                if st == OK:
                    out.vectors[rel] = vectors[k]
                    k += 1
        return out

    def save(self, emb: Embedded) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        rels = sorted(emb.status)
        ok = [r for r in rels if emb.status[r] == OK]
        vectors = np.stack([emb.vectors[r] for r in ok]) if ok else np.zeros((0, 128), np.float32)
        meta = {"rels": rels, "status": [emb.status[r] for r in rels]}
        tmp = self.path.with_name(self.path.stem + ".tmp.npz")
        np.savez(tmp, vectors=vectors, meta=np.array(json.dumps(meta)))
        tmp.replace(self.path)


_EMBEDDER: Any = None


def _init_worker(nice: int) -> None:
    global _EMBEDDER
    if nice:
        os.nice(nice)
    from recognizer.calibration.provenance import use_seeded_weights

    use_seeded_weights()
    from recognizer.faces.embedder import FaceEmbedder

    _EMBEDDER = FaceEmbedder.load()


def _embed_one(args: tuple[str, str]) -> tuple[str, str, np.ndarray | None]:
    """One image through the service's embed(bytes): (rel, "ok" or refusal code, float32 vector or None)."""
    from recognizer.errors import FacefleetError

    root, rel = args
    try:
        face = _EMBEDDER.embed((Path(root) / rel).read_bytes())
    except FacefleetError as exc:
        return rel, exc.code.value, None
    return rel, OK, np.asarray(face.embedding, dtype=np.float32).reshape(128)


def embed_all(rels: Iterable[str], root: Path, cache: Cache, processes: int) -> Embedded:
    emb = cache.load()
    todo = sorted(set(rels) - set(emb.status))
    log(f"{len(todo)} images to embed ({len(emb.status)} cached in {cache.path.name}), {processes} process(es)")
    if not todo:
        return emb
    t0 = time.time()
    jobs = [(str(root), r) for r in todo]
    if processes <= 1:
        _init_worker(0)
        results: Iterable[tuple[str, str, np.ndarray | None]] = map(_embed_one, jobs)
        pool = None
    else:
        pool = ProcessPoolExecutor(max_workers=processes, initializer=_init_worker, initargs=(5,))
        results = pool.map(_embed_one, jobs, chunksize=8)
    try:
        for n, (rel, status, vec) in enumerate(results, 1):
            emb.status[rel] = status
            if vec is not None:
                emb.vectors[rel] = vec
            if n % 250 == 0:
                cache.save(emb)
                log(f"  {n}/{len(todo)} images, {n / (time.time() - t0):.1f}/s")
    finally:
        if pool is not None:
            pool.shutdown()
    cache.save(emb)
    log(f"embedded {len(todo)} images in {time.time() - t0:.0f} s")
    return emb


# -- scoring ---------------------------------------------------------------------------------
def refusals(rels: list[str], emb: Embedded) -> dict[str, Any]:
    kinds = Counter(emb.status[r] for r in rels if emb.status[r] != OK)
    n = len(rels)
    refused = sum(kinds.values())
    return {
        "images": n,
        "refused": refused,
        "rate": refused / n if n else None,
        "rate_ci": list(wilson(refused, n)),
        "by_kind": dict(sorted(kinds.items())),
        "rate_by_kind": {k: v / n for k, v in sorted(kinds.items())},
    }


def min_distances(probes: np.ndarray, gallery: np.ndarray, starts: np.ndarray) -> np.ndarray:
    """(P, U): for each probe, the service's 1:1 distance to each user = min over the user's faces."""
    from recognizer.faces import metric

    out = np.empty((len(probes), len(starts)), dtype=np.float64)
    for k, v in enumerate(probes):
        out[k] = np.minimum.reduceat(metric.distances(gallery, v), starts)
    return out


def cluster_bootstrap(
    genuine: np.ndarray, impostor_rows: list[np.ndarray], fars: tuple[float, ...], *, rounds: int, seed: int = SEED
) -> dict[float, tuple[float, float]]:
    """95% percentile intervals of TAR@FAR, resampling probes with replacement (each probe's genuine
    distance and its impostor comparisons together); the threshold is re-estimated every round."""
    rng = np.random.default_rng(seed)
    p = len(genuine)
    out: dict[float, list[float]] = {f: [] for f in fars}
    if p == 0:
        return {f: (float("nan"), float("nan")) for f in fars}
    for _ in range(rounds):
        idx = rng.integers(0, p, p)
        imp = np.concatenate([impostor_rows[i] for i in idx])
        g = genuine[idx]
        if not len(imp):
            continue
        ks = {f: int(np.floor(f * len(imp))) for f in fars}
        part = np.partition(imp, sorted({min(k, len(imp) - 1) for k in ks.values()}))
        for f, k in ks.items():  # verification.threshold_at_far, without sorting 1.5 million distances
            t = float(part[-1]) if k >= len(imp) else float(np.nextafter(part[k], -np.inf))
            out[f].append(float((g <= t).mean()))
    return {
        f: tuple(float(x) for x in np.percentile(v, [2.5, 97.5])) if v else (float("nan"),) * 2 for f, v in out.items()
    }


def at_threshold(g: np.ndarray, imp: np.ndarray, t: float, n_all_genuine: int) -> dict[str, Any]:
    ta, fa = int((g <= t).sum()), int((imp <= t).sum())
    return {
        "threshold": t,
        "tar": ta / len(g) if len(g) else None,
        "tar_ci": list(wilson(ta, len(g))),
        "tar_end_to_end": ta / n_all_genuine if n_all_genuine else None,
        "tar_end_to_end_ci": list(wilson(ta, n_all_genuine)),
        "far": fa / len(imp) if len(imp) else None,
        "far_ci": list(wilson(fa, len(imp))),
        "false_accepts": fa,
        "false_rejects": len(g) - ta,
    }


def score(plan: Plan, emb: Embedded, *, impostors: int | None, boot_rounds: int) -> tuple[dict[str, Any], dict]:
    from recognizer.faces import metric

    faces = {p: [r for r in plan.enrol[p] if emb.status[r] == OK] for p in plan.people}
    enrolled = [p for p in plan.people if faces[p]]
    starts = np.cumsum([0] + [len(faces[p]) for p in enrolled])[:-1]
    gallery = (
        np.stack([emb.vectors[r] for p in enrolled for r in faces[p]]) if enrolled else np.zeros((0, 128), np.float32)
    )
    col = {p: k for k, p in enumerate(enrolled)}
    probe_rels = [r for p in enrolled for r in plan.probes[p]]
    ok_probes = [r for r in probe_rels if emb.status[r] == OK]
    owner = np.array([col[lfw.person_of(r)] for r in ok_probes], dtype=np.int64)
    P, U = len(ok_probes), len(enrolled)
    D = min_distances(np.stack([emb.vectors[r] for r in ok_probes]), gallery, starts) if P and U else np.zeros((P, U))
    genuine = D[np.arange(P), owner] if P else np.zeros(0)
    mask = np.ones((P, U), dtype=bool)
    mask[np.arange(P), owner] = False
    total_impostor = int(mask.sum())
    if impostors is not None and impostors < total_impostor:
        flat = np.flatnonzero(mask.ravel())
        keep = np.random.default_rng(SEED).choice(flat, size=impostors, replace=False)
        mask = np.zeros(P * U, dtype=bool)
        mask[keep] = True
        mask = mask.reshape(P, U)
    rows = [D[k][mask[k]] for k in range(P)]
    imp = np.concatenate(rows) if rows else np.zeros(0)
    n_all_genuine = len(probe_rels)
    thr = metric.DEFAULT_THRESHOLD

    fars = (0.01, 0.001)
    boot = cluster_bootstrap(genuine, rows, fars, rounds=boot_rounds)
    verification: dict[str, Any] = {
        "committed_threshold": thr,
        "at_committed_threshold": at_threshold(genuine, imp, thr, n_all_genuine),
        "genuine_comparisons": int(P),
        "impostor_comparisons": int(len(imp)),
        "impostor_comparisons_possible": total_impostor,
        "genuine_distance_median": float(np.median(genuine)) if P else None,
    }
    for f, name in ((0.01, "1pct"), (0.001, "0.1pct")):
        if len(imp) and P:
            tar, t = tar_at_far(genuine, imp, f)
            row = at_threshold(genuine, imp, t, n_all_genuine)
            row["tar_bootstrap_ci"] = list(boot[f])
            row["meaningful"] = len(imp) * f >= 10  # at least 10 impostor accepts allowed at this FAR
            verification[f"at_far_{name}"] = row
            verification[f"tar_at_far_{name}"] = tar

    # 1:N identify: the nearest enrolled user (service.identify's index search), then the threshold
    rank1 = D.argmin(axis=1) == owner if P and U else np.zeros(0, dtype=bool)
    nearest = D.min(axis=1) if P and U else np.zeros(0)
    correct_in = rank1 & (nearest <= thr)
    wrong_in = ~rank1 & (nearest <= thr)
    open_ok = [r for r in plan.open_set if emb.status[r] == OK]
    open_d = (
        min_distances(np.stack([emb.vectors[r] for r in open_ok]), gallery, starts).min(axis=1)
        if open_ok and U
        else np.zeros(0)
    )
    open_fa = int((open_d <= thr).sum())
    identification = {
        "gallery_people": U,
        "gallery_faces": int(len(gallery)),
        "genuine_probes": int(P),
        "rank1_rate": float(rank1.mean()) if P else None,
        "rank1_ci": list(wilson(int(rank1.sum()), P)),
        "identified_within_threshold_rate": float(correct_in.mean()) if P else None,
        "identified_within_threshold_ci": list(wilson(int(correct_in.sum()), P)),
        "identified_within_threshold_end_to_end": int(correct_in.sum()) / n_all_genuine if n_all_genuine else None,
        "accepted_as_someone_else_rate": float(wrong_in.mean()) if P else None,
        "accepted_as_someone_else": int(wrong_in.sum()),
        "open_set_probes": len(plan.open_set),
        "open_set_probes_embedded": len(open_ok),
        "open_set_false_accepts": open_fa,
        "open_set_false_accept_rate": open_fa / len(open_ok) if open_ok else None,
        "open_set_false_accept_ci": list(wilson(open_fa, len(open_ok))),
        "threshold": thr,
    }
    enrol_rels = [r for p in plan.people for r in plan.enrol[p]]
    faces_hist = Counter(len(faces[p]) for p in plan.people)
    counts = {
        "people_with_at_least_4_images": plan.eligible,
        "people_chosen": len(plan.people),
        "people_enrolled": U,
        "enrolled_with_faces": {str(k): faces_hist.get(k, 0) for k in range(ENROL, 0, -1)},
        "people_skipped_no_usable_enrolment_image": faces_hist.get(0, 0),
        "enrolment_images": len(enrol_rels),
        "enrolled_faces": int(len(gallery)),
        "probes_available": plan.probes_available,
        "probes": n_all_genuine,
        "probes_embedded": int(P),
        "probes_of_skipped_people": sum(len(plan.probes[p]) for p in plan.people if not faces[p]),
        "open_set_probes": len(plan.open_set),
    }
    refused = {
        "enrolment_images": refusals(enrol_rels, emb),
        "probes": refusals(probe_rels, emb),
        "open_set_probes": refusals(plan.open_set, emb),
    }
    curves = {"genuine": genuine, "impostor": imp, "open_set": open_d}
    return {
        "counts": counts,
        "refusals": refused,
        "verification": verification,
        "identification": identification,
    }, curves


# -- plot ------------------------------------------------------------------------------------
def plot(curves: dict[str, np.ndarray], verification: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    g, imp = curves["genuine"], curves["impostor"]
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.5))
    ax = axes[0]
    bins = np.linspace(0.0, 1.2, 61)
    for d, label in (
        (g, f"genuine ({len(g):,})"),
        (imp, f"impostor ({len(imp):,})"),
        (curves["open_set"], f"open set, nearest user ({len(curves['open_set']):,})"),
    ):
        if len(d):
            ax.hist(np.clip(d, 0, 1.2), bins=bins, density=True, histtype="step", lw=1.4, label=label)
    lines = [("committed", verification["committed_threshold"], "k")]
    for name, c in (("1pct", "tab:red"), ("0.1pct", "tab:purple")):
        if f"at_far_{name}" in verification:
            lines.append((f"FAR {name.replace('pct', '%')}", verification[f"at_far_{name}"]["threshold"], c))
    for label, t, c in lines:
        ax.axvline(t, color=c, ls="--", lw=0.9, label=f"{label} {t:.3f}")
    ax.set_yscale("log")
    ax.set_xlabel("login distance (min Euclidean over the user's enrolled faces)")
    ax.set_ylabel("density (log)")
    ax.set_title("enrol 3, log in with another: distance per login", fontsize=10)
    ax.legend(fontsize=8)
    ax = axes[1]
    if len(g) and len(imp):
        ts = np.unique(np.concatenate([g, imp]))
        tar = np.searchsorted(np.sort(g), ts, side="right") / len(g)
        far = np.searchsorted(np.sort(imp), ts, side="right") / len(imp)
        ax.step(np.maximum(far, 1e-6), tar, where="post", label="1:1 login, probes accepted by the pipeline")
    for x in (0.001, 0.01):
        ax.axvline(x, color="grey", lw=0.6, ls=":")
    ax.set_xscale("log")
    ax.set_xlim(1e-5, 1)
    ax.set_ylim(0, 1.01)
    ax.set_xlabel("false accept rate (log)")
    ax.set_ylabel("true accept rate")
    ax.set_title("ROC", fontsize=10)
    ax.grid(alpha=0.3)
    ax.legend(loc="lower right", fontsize=8)
    save_figure(fig, path)


# -- tiny input for `make test` --------------------------------------------------------------
def build_tiny_lfw(root: Path) -> Path:
    """An LFW-shaped folder from the packaged test faces: 2 people with 5 images (with refusals
    among them), one whose enrolment images all lack a face (skipped), and two one-image people."""
    from PIL import Image

    from bench import frames
    from bench.harness import test_faces

    F = test_faces()
    blank = Image.new("RGB", (250, 250), (120, 120, 120))
    crops = {"astronaut": frames.face_crop("astronaut").resize((250, 250)), "hopper": frames.face_crop("hopper")}
    crops["hopper"] = crops["hopper"].resize((250, 250))
    kws = [
        {"scale": 1.0, "shift": (0, 0), "brightness": 1.0},
        {"scale": 0.95, "shift": (4, 2), "brightness": 1.1},
        {"scale": 0.9, "shift": (-5, 3), "brightness": 0.95},
        {"scale": 0.92, "shift": (6, -4), "brightness": 1.05},
        {"scale": 0.97, "shift": (-3, -3), "brightness": 1.15},
    ]
    pair = F.side_by_side(crops["astronaut"], crops["hopper"]).resize((250, 125))
    people: dict[str, list[Image.Image]] = {
        "Eileen_Collins": [F.variant(crops["astronaut"], **kw) for kw in kws],
        "Grace_Hopper": [F.variant(crops["hopper"], **kw) for kw in kws],
        "Nobody_Enrolled": [blank] * 4,
        "Single_Blank": [blank],
        "Single_Mirror": [crops["hopper"].transpose(Image.FLIP_LEFT_RIGHT)],
    }
    people["Eileen_Collins"][1] = blank  # an enrolment image without a face: enrolled with 2
    people["Grace_Hopper"][4] = pair  # a probe with two faces: multiple_faces
    for name, imgs in people.items():
        d = root / "lfw-deepfunneled" / name
        d.mkdir(parents=True, exist_ok=True)
        for i, img in enumerate(imgs, 1):
            img.save(d / f"{name}_{i:04d}.jpg", quality=92)
    return root


# -- main ------------------------------------------------------------------------------------
def main(argv: list[str] | None = None) -> int:
    ap = parser(__doc__)
    ap.add_argument("--max-people", type=int, default=None, help="a seeded sample of this many people (default all)")
    ap.add_argument("--probes-per-person", type=int, default=PROBES_PER_PERSON, help="cap on probes per person")
    ap.add_argument(
        "--impostors",
        type=int,
        default=None,
        help="a seeded sample of this many 1:1 impostor comparisons (default all)",
    )
    ap.add_argument("--open-set-probes", type=int, default=OPEN_SET_PROBES, help="one-image people probed 1:N")
    ap.add_argument("--processes", type=int, default=1, help="worker processes for embedding (default 1)")
    args = ap.parse_args(argv)
    started = time.time()
    tmp = tempfile.TemporaryDirectory(prefix="bench-enrolment-")
    if args.tiny:
        root = build_tiny_lfw(Path(tmp.name) / "lfw")
        cache, processes, boot_rounds = Cache(Path(tmp.name) / "cache", root), 1, 50
        data = "tiny LFW-shaped set built from the packaged test faces (astronaut, grace_hopper, variant())"
    else:
        root = lfw.lfw_root()
        cache, processes, boot_rounds = Cache(CACHE_DIR, root), args.processes, BOOT_ROUNDS
        data = f"LFW deep-funneled ({root})"
        if not (root / "lfw-deepfunneled").is_dir():
            print(f"LFW is not at {root} (set FACEFLEET_LFW): skipping the enrolment_accuracy suite")
            return 0
    plan = make_plan(
        root, max_people=args.max_people, probes_per_person=args.probes_per_person, open_set=args.open_set_probes
    )
    log(
        f"{len(plan.people)} of {plan.eligible} people with >= {MIN_IMAGES} images; "
        f"{sum(len(v) for v in plan.probes.values())} probes, {len(plan.open_set)} open-set probes"
    )
    emb = embed_all(plan.images(), root, cache, processes)
    embed_s = time.time() - started
    results, curves = score(plan, emb, impostors=args.impostors, boot_rounds=boot_rounds)
    v, ident, c = results["verification"], results["identification"], results["counts"]
    if not args.tiny and v["impostor_comparisons"] < 100_000:
        log(f"only {v['impostor_comparisons']:,} impostor comparisons: TAR at FAR 0.1% rests on few accepts")

    out = args.out
    out.mkdir(parents=True, exist_ok=True)
    plot(curves, v, out / "enrolment_accuracy.png")
    from recognizer.faces import metric

    write_result(
        out,
        "enrolment_accuracy",
        {
            "tiny": args.tiny,
            "protocol": {
                "data": data,
                "people": f"LFW people with >= {MIN_IMAGES} images"
                + (f", a seeded sample of {args.max_people}" if args.max_people else " (all)"),
                "enrolment": f"the first {ENROL} images (sorted file names); refused images are dropped and the person "
                "enrolled with the usable ones (the service refuses the whole request, the user enrols again "
                "without that photo); skipped when none is usable",
                "probes": f"the remaining images, a seeded sample of {args.probes_per_person} when there are more",
                "decision": "service.verify: min Euclidean distance over the user's enrolled faces <= threshold",
                "impostors": "every probe against every other enrolled person"
                if args.impostors is None
                else f"a seeded sample of {args.impostors:,} probe-vs-other-person comparisons",
                "far": "over comparisons of probes the pipeline accepted (a refused probe cannot be falsely accepted)",
                "tar_end_to_end": "refused genuine probes count as failed logins",
                "bootstrap": f"{boot_rounds} rounds resampling probes with their comparisons; threshold re-estimated",
                "identify": "argmin over all enrolled users (service.identify), accepted when within the threshold",
                "open_set": f"a seeded sample of {args.open_set_probes} images of one-image LFW people, never enrolled",
                "pipeline": {**pipeline_options(), "model": metric.MODEL_NAME, "metric": metric.METRIC},
                "seed": SEED,
                "processes": processes,
            },
            **results,
            "plots": ["enrolment_accuracy.png"],
            "embedding_s": round(embed_s, 1),
            "elapsed_s": round(time.time() - started, 1),
        },
    )
    r = results["refusals"]
    print(
        f"\n{c['people_enrolled']} people enrolled ({c['enrolled_faces']} faces; "
        f"{c['people_skipped_no_usable_enrolment_image']} skipped), {c['probes']} probes"
    )
    for part in ("enrolment_images", "probes", "open_set_probes"):
        print(f"refused {part}: {r[part]['refused']}/{r[part]['images']} {r[part]['by_kind']}")
    a = v["at_committed_threshold"]
    print(
        f"at the committed threshold {a['threshold']}: TAR {a['tar']} (end to end {a['tar_end_to_end']}), "
        f"FAR {a['far']} over {v['impostor_comparisons']:,} impostor comparisons"
    )
    for name in ("1pct", "0.1pct"):
        if f"at_far_{name}" in v:
            row = v[f"at_far_{name}"]
            print(f"TAR @ FAR {name}: {row['tar']} {row['tar_bootstrap_ci']} at threshold {row['threshold']:.4f}")
    print(
        f"1:N rank-1 {ident['rank1_rate']}, identified within threshold {ident['identified_within_threshold_rate']}, "
        f"open-set false accepts {ident['open_set_false_accepts']}/{ident['open_set_probes_embedded']}"
    )
    tmp.cleanup()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
