"""Accuracy: the facefleet pipeline vs plain DeepFace.verify(model_name="Dlib"), side by side.

LFW View 1 (../shared/data/faces/lfw, or $FACEFLEET_LFW), in one run for both pipelines:
- facefleet: the threshold is chosen on pairsDevTrain.txt (max accuracy; the most accurate with
  FAR <= 0.5% if that one's FAR is higher: `make calibrate`'s rule), then pairsDevTest.txt gives
  accuracy, TAR and FAR at it and at the committed DEFAULT_THRESHOLD (Wilson 95% intervals) and
  TAR at FAR = 1% (bootstrap 95% interval). Embeddings come from calibration.lfw's cache.
- baseline: DeepFace.verify with every default (opencv detector, cosine, threshold 0.07) on all
  1,000 DevTest pairs (results cached under .cache/bench/), scored at its own threshold.
- held-out: LFW people absent from pairsDevTrain.txt (the same draw as `make calibrate`); a
  seeded subset of HELD_PEOPLE people gives every impostor pair among them (>= 10,000) plus
  HELD_GENUINE genuine pairs; both pipelines score the SAME pairs, giving TAR at FAR = 0.1%.
  The baseline embeds each image once with DeepFace.represent and applies verify's own rule
  (min cosine over all face combinations), checked against verify on DevTest pairs.
- no face: facefleet embeds a fixed centre box when nothing is detected (LFW protocol of
  calibration.lfw; the service itself answers no_face); verify raises, and such a pair is scored
  as a rejection (distance = +inf). Both counts are reported.
- sanity table: the small labelled sets in ../shared/data/faces (deepface, face_recognition,
  openface): every pair of distinct single-identity images, with the SERVICE's rule for
  facefleet (FaceEmbedder.embed: no_face / multiple_faces count as a rejection).
Writes accuracy.json and accuracy_roc.png.
"""

from __future__ import annotations

import hashlib
import itertools
import random
import tempfile
import time
from dataclasses import asdict
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np

from bench import deepface_baseline as dfb
from bench.harness import SHARED, log, parser, ratio, save_figure, write_result
from recognizer.calibration import lfw
from recognizer.calibration.verification import best_accuracy_threshold, bootstrap_tar_at_far, rates, tar_at_far

MAX_FAR = 0.005
HELD_PEOPLE = 150  # 150 * 149 / 2 = 11,175 impostor pairs
HELD_GENUINE = 200
SEED = 20261125  # the same seed as `make calibrate`'s held-out draw
CALIBRATE_IMPOSTORS = 100_000
EQUIVALENCE_PAIRS = 20


# -- LFW sets ----------------------------------------------------------------------------------
def held_subset(
    root: Path, train: list[lfw.Pair], *, people: int, genuine: int, calibrate_impostors: int
) -> tuple[list[lfw.Pair], list[lfw.Pair], int]:
    """(impostors, genuines, pool size): all pairs among `people` held-out pool images, and
    `genuine` held-out genuine pairs, drawn from `make calibrate`'s held-out set."""
    held = lfw.held_out(
        root, lfw.people_in(train), seed=SEED, impostor_pairs=min(calibrate_impostors, _max_pairs(root, train))
    )
    pool = sorted({r for p in held.impostors for r in (p.a, p.b)})
    rng = random.Random(SEED + 1)
    chosen = sorted(rng.sample(pool, min(people, len(pool))))
    impostors = [lfw.Pair(a, b, False) for a, b in itertools.combinations(chosen, 2)]
    genuines = sorted(rng.sample(held.genuines, min(genuine, len(held.genuines))), key=lambda p: (p.a, p.b))
    return impostors, genuines, held.people


def _max_pairs(root: Path, train: list[lfw.Pair]) -> int:
    exclude = lfw.people_in(train)
    n = sum(1 for p, c in lfw.image_counts(root).items() if p not in exclude and c > 0)
    return n * (n - 1) // 2


def roc(d: np.ndarray, same: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(FAR, TAR) at every distinct threshold (decision: distance <= t)."""
    finite = np.unique(d[np.isfinite(d)])
    ts = np.concatenate([finite, [np.inf]]) if len(finite) else np.array([np.inf])
    g, i = np.sort(d[same]), np.sort(d[~same])
    tar = np.searchsorted(g, ts, side="right") / max(1, len(g))
    far = np.searchsorted(i, ts, side="right") / max(1, len(i))
    return far, tar


def scores(d: np.ndarray, same: np.ndarray, threshold: float, *, boot_rounds: int = 1000) -> dict[str, Any]:
    r = rates(d, same, threshold)
    g, i = d[same], d[~same]
    tar1, t1 = tar_at_far(g, i, 0.01)
    out = {k: (list(v) if isinstance(v, tuple) else v) for k, v in asdict(r).items()}
    out.update(
        {
            "tar_at_far_1pct": tar1,
            "threshold_at_far_1pct": t1,
            "tar_at_far_1pct_ci": list(bootstrap_tar_at_far(g, i, 0.01, seed=SEED, rounds=boot_rounds)),
        }
    )
    if len(i) >= 1000:
        tar01, t01 = tar_at_far(g, i, 0.001)
        out.update(
            {
                "tar_at_far_0.1pct": tar01,
                "threshold_at_far_0.1pct": t01,
                "tar_at_far_0.1pct_ci": list(
                    bootstrap_tar_at_far(g, i, 0.001, seed=SEED, rounds=min(boot_rounds, 500))
                ),
            }
        )
    return out


# -- facefleet on LFW ------------------------------------------------------------------------
OWN_LFW_CACHE = lfw.ROOT / ".cache" / "bench" / "lfw"


def facefleet_embeddings(
    rels: set[str], cfg: lfw.PipelineConfig, root: Path, processes: int, own_dir: Path = OWN_LFW_CACHE, chunk: int = 400
) -> lfw.Embedded:
    """calibration.lfw's embeddings of `rels`: read from `make calibrate`'s cache (.cache/lfw) when
    there, the rest computed with calibration.lfw into this suite's own cache file (.cache/bench/lfw,
    so two runs never overwrite each other's file), from the END of the sorted list in chunks, so
    a calibration running at the same time (which goes from the start) is not duplicated."""
    shared = lfw.Cache(cfg).load()
    out = lfw.Embedded()

    def take(e: lfw.Embedded) -> None:
        for r in rels & set(e.vectors):
            out.vectors[r], out.status[r], out.boxes[r], out.seconds[r] = (
                e.vectors[r],
                e.status[r],
                e.boxes[r],
                e.seconds[r],
            )

    take(shared)
    own_cache = partial(lfw.Cache, directory=own_dir)
    take(own_cache(cfg).load())
    original = lfw.Cache
    try:
        lfw.Cache = own_cache  # embed_images writes into this suite's own file
        for _ in range(len(rels) // chunk + 2):  # bounded: each pass embeds up to `chunk` images
            take(original(cfg).load())  # what a concurrent calibration finished meanwhile
            missing = sorted(rels - set(out.vectors))
            if not missing:
                break
            log(f"facefleet: {len(missing)} LFW images not cached yet; embedding the last {min(chunk, len(missing))}")
            take(lfw.embed_images(missing[-chunk:], cfg, root=root, processes=processes, log=log))
    finally:
        lfw.Cache = original
    return out


def facefleet_lfw(
    root: Path, train, test, h_imp, h_gen, processes: int, own_dir: Path = OWN_LFW_CACHE
) -> tuple[dict[str, Any], dict]:
    from recognizer.faces import metric

    cfg = lfw.PipelineConfig()
    rels = {r for p in train + test + h_imp + h_gen for r in (p.a, p.b)}
    emb = facefleet_embeddings(rels, cfg, root, processes, own_dir)
    d_tr, s_tr = lfw.pair_distances(train, emb)
    t_acc = best_accuracy_threshold(d_tr, s_tr)
    chosen = t_acc if rates(d_tr, s_tr, t_acc).far <= MAX_FAR else best_accuracy_threshold(d_tr, s_tr, max_far=MAX_FAR)
    chosen = round(chosen, 3)
    d_te, s_te = lfw.pair_distances(test, emb)
    d_h, s_h = lfw.pair_distances(h_gen + h_imp, emb)
    test_imgs = {r for p in test for r in (p.a, p.b)}
    out = {
        "pipeline": {**asdict(cfg), "model": metric.MODEL_NAME, "metric": metric.METRIC},
        "threshold_chosen_on_devtrain": chosen,
        "committed_default_threshold": metric.DEFAULT_THRESHOLD,
        "devtrain": {
            k: v for k, v in scores(d_tr, s_tr, chosen, boot_rounds=200).items() if k in ("accuracy", "far", "tar")
        },
        "devtest": scores(d_te, s_te, chosen),
        "devtest_at_committed_default": {
            k: v
            for k, v in scores(d_te, s_te, metric.DEFAULT_THRESHOLD, boot_rounds=10).items()
            if k in ("accuracy", "accuracy_ci", "far", "tar")
        },
        "held_out": scores(d_h, s_h, chosen),
        "faces_found_devtest_images": emb.counts(test_imgs),
        "no_face_images_devtest": sum(1 for r in test_imgs if emb.status[r] == "centre_box"),
        "no_face_scoring": "a fixed centre box (the median detected box) is embedded instead (calibration.lfw); "
        "the face nearest the centre is used when several are detected",
        "seconds_per_image_p50": float(np.median([emb.seconds[r] for r in rels])),
    }
    return out, {"devtest": (d_te, s_te), "held_out": (d_h, s_h)}


def calibration_full_held_out() -> dict[str, Any] | None:
    """`make calibrate`'s figure over its 100,000 held-out impostor pairs, when it was run."""
    import json

    path = lfw.ROOT / "bench" / "results" / "calibration.json"
    if not path.is_file():
        return None
    c = json.loads(path.read_text())
    h = c.get("held_out", {})
    return {
        "source": "bench/results/calibration.json",
        "git_rev": c.get("git_rev"),
        "impostor_pairs": h.get("n_impostor"),
        "genuine_pairs": h.get("n_genuine"),
        "tar_at_far_0.1pct": h.get("tar_at_far_0.1pct"),
        "tar_at_far_0.1pct_ci": h.get("tar_at_far_0.1pct_ci"),
    }


# -- the DeepFace baseline on LFW ------------------------------------------------------------
def baseline_lfw(root: Path, test, h_imp, h_gen, processes: int, cache_dir: Path) -> tuple[dict[str, Any], dict]:
    thr = dfb.threshold()
    t0 = time.time()
    res = dfb.run_cached(
        "verify-lfw",
        dfb.verify_pair,
        [(f"{p.a}|{p.b}", (str(root / p.a), str(root / p.b))) for p in test],
        processes=processes,
        cache_dir=cache_dir,
        what="DevTest pairs (DeepFace.verify)",
    )
    verify_s = time.time() - t0
    d_te = np.array([np.inf if res[f"{p.a}|{p.b}"][0] is None else res[f"{p.a}|{p.b}"][0] for p in test])
    s_te = np.array([p.same for p in test])
    errors = [res[f"{p.a}|{p.b}"][1] for p in test if res[f"{p.a}|{p.b}"][1]]

    # held-out (and the equivalence check): one DeepFace.represent per image
    check = [p for p in test if res[f"{p.a}|{p.b}"][1] is None][:EQUIVALENCE_PAIRS]
    imgs = sorted({r for p in h_imp + h_gen + check for r in (p.a, p.b)})
    reps = dfb.run_cached(
        "represent-lfw",
        dfb.represent_image,
        [(r, str(root / r)) for r in imgs],
        processes=processes,
        cache_dir=cache_dir,
        what="held-out images (DeepFace.represent)",
    )
    vec = {r: reps[r][0] for r in imgs}
    diffs = [abs(dfb.pair_distance(vec[p.a], vec[p.b]) - res[f"{p.a}|{p.b}"][0]) for p in check]
    pairs = h_gen + h_imp
    d_h = np.array([dfb.pair_distance(vec[p.a], vec[p.b]) for p in pairs])
    s_h = np.array([p.same for p in pairs])
    held_imgs = {r for p in pairs for r in (p.a, p.b)}
    out = {
        "call": 'DeepFace.verify(a, b, model_name="Dlib")  # detector opencv, cosine, enforce_detection=True',
        "threshold": thr,
        "devtest": scores(d_te, s_te, thr),
        "devtest_pairs_with_no_face": len(errors),
        "devtest_no_face_detail": {e: errors.count(e) for e in sorted(set(errors))},
        "no_face_scoring": "verify raises ValueError (enforce_detection=True); the pair is scored as a rejection "
        "(distance +inf): a false reject for a genuine pair, a correct reject for an impostor",
        "held_out": scores(d_h, s_h, thr),
        "held_out_images_with_no_face": sum(1 for r in held_imgs if not vec[r]),
        "represent_vs_verify_max_abs_diff": max(diffs) if diffs else None,
        "represent_vs_verify_pairs_checked": len(diffs),
        "devtest_verify_wall_s_this_run": round(verify_s, 1),
        "seconds_per_verify_p50": float(np.median([res[f"{p.a}|{p.b}"][2] for p in test])),
    }
    return out, {"devtest": (d_te, s_te), "held_out": (d_h, s_h)}


# -- the small labelled sets -----------------------------------------------------------------
def small_sets(faces_dir: Path) -> dict[str, list[tuple[str, str]]]:
    """{set: [(image path, identity)]}: single-identity images, byte-identical copies removed."""
    sets: dict[str, list[tuple[str, str]]] = {}
    for name in ("deepface", "face_recognition", "openface"):
        d = faces_dir / name
        if not d.is_dir():
            continue
        rows: list[tuple[str, str]] = []
        tsv = d / "identities.derived.tsv"
        if tsv.is_file():
            lines = tsv.read_text().splitlines()
            head = lines[0].split("\t")
            ci, cp = (
                (head.index("cluster_id"), head.index("image"))
                if "cluster_id" in head
                else (head.index("identity"), head.index("path"))
            )
            for line in lines[1:]:
                f = line.split("\t")
                if len(f) > max(ci, cp) and not f[ci].startswith("MULTI"):
                    rows.append((str(d / f[cp]), f[ci]))
        else:  # openface: identity from the file name (lennon-1.jpg); two-face images skipped
            for p in sorted(d.glob("*.jpg")):
                person = p.stem.rsplit("-", 1)[0] if p.stem[-1].isdigit() else p.stem
                if "-" in person:
                    continue  # longoria-cooper.jpg shows two people
                rows.append((str(p), person))
        seen, unique = set(), []
        for path, ident in rows:
            h = hashlib.sha256(Path(path).read_bytes()).hexdigest()
            if h not in seen:
                seen.add(h)
                unique.append((path, ident))
        sets[name] = unique
    return sets


def sanity_table(sets: dict[str, list[tuple[str, str]]], processes: int, cache_dir: Path) -> list[dict[str, Any]]:
    from recognizer.errors import FacefleetError
    from recognizer.faces import metric
    from recognizer.faces.embedder import FaceEmbedder

    emb = FaceEmbedder.load()
    thr_b = dfb.threshold()
    out = []
    for name, rows in sets.items():
        ff: dict[str, np.ndarray | None] = {}
        ff_err: dict[str, str] = {}
        for path, _ in rows:
            try:
                ff[path] = emb.embed(Path(path).read_bytes()).embedding
            except FacefleetError as exc:
                ff[path] = None
                ff_err[exc.code.value] = ff_err.get(exc.code.value, 0) + 1
        reps = dfb.run_cached(
            "represent-small",
            dfb.represent_image,
            [(p, p) for p, _ in rows],
            processes=processes,
            cache_dir=cache_dir,
            what=f"{name} images",
        )
        pairs = list(itertools.combinations(rows, 2))
        same = np.array([a[1] == b[1] for a, b in pairs], dtype=bool)
        d_f = np.array(
            [np.inf if ff[a[0]] is None or ff[b[0]] is None else metric.distance(ff[a[0]], ff[b[0]]) for a, b in pairs]
        )
        d_b = np.array([dfb.pair_distance(reps[a[0]][0], reps[b[0]][0]) for a, b in pairs])
        rf, rb = rates(d_f, same, metric.DEFAULT_THRESHOLD), rates(d_b, same, thr_b)
        out.append(
            {
                "set": name,
                "images": len(rows),
                "identities": len({i for _, i in rows}),
                "genuine_pairs": int(same.sum()),
                "impostor_pairs": int((~same).sum()),
                "facefleet": {"accuracy": rf.accuracy, "tar": rf.tar, "far": rf.far, "image_errors": ff_err},
                "deepface_verify": {
                    "accuracy": rb.accuracy,
                    "tar": rb.tar,
                    "far": rb.far,
                    "images_without_face": sum(1 for p, _ in rows if not reps[p][0]),
                },
            }
        )
    return out


# -- tiny input for `make test` --------------------------------------------------------------
def build_tiny_lfw(root: Path) -> Path:
    """An LFW-shaped folder from the test faces: 2 train people, 3 held-out 'people', a faceless one."""
    from PIL import Image

    from bench import frames
    from bench.harness import test_faces

    F = test_faces()
    people = {
        "Eileen_Collins": frames.face_crop("astronaut"),
        "Grace_Hopper": frames.face_crop("hopper"),
        "Held_Astronaut": frames.face_crop("astronaut").transpose(Image.FLIP_LEFT_RIGHT),
        "Held_Hopper": frames.face_crop("hopper").transpose(Image.FLIP_LEFT_RIGHT),
        "Held_Nobody": Image.new("RGB", (250, 250), (120, 120, 120)),
    }
    for name, img in people.items():
        d = root / "lfw-deepfunneled" / name
        d.mkdir(parents=True, exist_ok=True)
        for i, kw in enumerate(({}, {"brightness": 1.1}, {"scale": 0.95, "shift": (4, 2)}), 1):
            v = F.variant(img.resize((250, 250)), **{"scale": 1.0, "shift": (0, 0), "brightness": 1.0, **kw})
            v.save(d / f"{name}_{i:04d}.jpg", quality=92)
    (root / "pairsDevTrain.txt").write_text(
        "2\nEileen_Collins\t1\t2\nGrace_Hopper\t1\t3\n"
        "Eileen_Collins\t1\tGrace_Hopper\t2\nEileen_Collins\t3\tGrace_Hopper\t1\n"
    )
    (root / "pairsDevTest.txt").write_text(
        "2\nEileen_Collins\t2\t3\nGrace_Hopper\t2\t3\n"
        "Eileen_Collins\t2\tGrace_Hopper\t3\nGrace_Hopper\t1\tEileen_Collins\t3\n"
    )
    faces = root / "faces" / "openface"
    faces.mkdir(parents=True, exist_ok=True)
    for name, img in (
        ("astronaut-1", people["Eileen_Collins"]),
        ("astronaut-2", people["Held_Astronaut"]),
        ("hopper-1", people["Grace_Hopper"]),
    ):
        img.save(faces / f"{name}.jpg", quality=92)
    return root


# -- plot ------------------------------------------------------------------------------------
def plot_roc(curves: dict[str, dict[str, tuple[np.ndarray, np.ndarray]]], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(11, 4.5))
    for ax, part, title in (
        (axes[0], "devtest", "LFW pairsDevTest (500 + 500 pairs)"),
        (axes[1], "held_out", "LFW held-out people (>= 10,000 impostor pairs)"),
    ):
        for label, c in curves.items():
            d, same = c[part]
            far, tar = roc(d, same)
            ax.step(np.maximum(far, 1e-5), tar, where="post", label=label)
        for x in (0.001, 0.01):
            ax.axvline(x, color="grey", lw=0.6, ls=":")
        ax.set_xscale("log")
        ax.set_xlim(1e-4 if part == "held_out" else 1e-3, 1)
        ax.set_ylim(0, 1.01)
        ax.set_xlabel("false accept rate (log)")
        ax.set_ylabel("true accept rate")
        ax.set_title(title, fontsize=10)
        ax.grid(alpha=0.3)
        ax.legend(loc="lower right", fontsize=8)
    save_figure(fig, path)


# -- main ------------------------------------------------------------------------------------
def main(argv: list[str] | None = None) -> int:
    ap = parser(__doc__)
    ap.add_argument("--processes", type=int, default=2, help="worker processes for embedding (default 2)")
    args = ap.parse_args(argv)
    started = time.time()
    tmp = tempfile.TemporaryDirectory(prefix="bench-accuracy-")
    cache_dir = dfb.CACHE_DIR
    if args.tiny:
        root = build_tiny_lfw(Path(tmp.name) / "lfw")
        faces_dir = root / "faces"
        cache_dir = Path(tmp.name) / "cache"
        people, genuine, processes = 3, 3, 1
    else:
        root = lfw.lfw_root()
        faces_dir = SHARED / "data" / "faces"
        people, genuine, processes = HELD_PEOPLE, HELD_GENUINE, args.processes
        if not (root / "pairsDevTrain.txt").is_file():
            print(f"LFW is not at {root} (set FACEFLEET_LFW): skipping the accuracy suite")
            return 0
    train = lfw.read_pairs(root / "pairsDevTrain.txt")
    test = lfw.read_pairs(root / "pairsDevTest.txt")
    h_imp, h_gen, held_people = held_subset(
        root, train, people=people, genuine=genuine, calibrate_impostors=CALIBRATE_IMPOSTORS
    )
    log(
        f"LFW View 1: {len(train)} DevTrain, {len(test)} DevTest pairs; held-out subset {len(h_imp)} impostor + "
        f"{len(h_gen)} genuine pairs"
    )

    ff, ff_curves = facefleet_lfw(
        root, train, test, h_imp, h_gen, processes, cache_dir / "lfw" if args.tiny else OWN_LFW_CACHE
    )
    log("facefleet scored; now the DeepFace.verify baseline")
    bl, bl_curves = baseline_lfw(root, test, h_imp, h_gen, processes, cache_dir)
    log("baseline scored; now the small labelled sets")
    table = sanity_table(small_sets(faces_dir), processes, cache_dir)

    out = args.out
    out.mkdir(parents=True, exist_ok=True)
    plot_roc(
        {
            "facefleet (dlib HOG + 5-point chip, Euclidean)": ff_curves,
            'DeepFace.verify(model_name="Dlib") defaults': bl_curves,
        },
        out / "accuracy_roc.png",
    )
    fd, bd = ff["devtest"], bl["devtest"]
    fh, bh = ff["held_out"], bl["held_out"]
    comparison = {
        "devtest_accuracy": {
            "facefleet": fd["accuracy"],
            "deepface_verify": bd["accuracy"],
            "error_rate_ratio_baseline_over_facefleet": ratio(1 - bd["accuracy"], 1 - fd["accuracy"]),
        },
        "devtest_tar_at_far_1pct": {"facefleet": fd["tar_at_far_1pct"], "deepface_verify": bd["tar_at_far_1pct"]},
        "held_out_tar_at_far_0.1pct": {
            "facefleet": fh.get("tar_at_far_0.1pct"),
            "deepface_verify": bh.get("tar_at_far_0.1pct"),
        },
    }
    write_result(
        out,
        "accuracy",
        {
            "tiny": args.tiny,
            "protocol": {
                "data": "LFW View 1" if not args.tiny else "tiny LFW-shaped set built from the test faces",
                "choose_on": "pairsDevTrain.txt (facefleet only; the baseline keeps its default 0.07)",
                "report_on": "pairsDevTest.txt",
                "max_far_rule": MAX_FAR,
                "held_out": {
                    "people_not_in_devtrain": held_people,
                    "subset_people": people,
                    "seed": SEED,
                    "impostor_pairs": len(h_imp),
                    "genuine_pairs": len(h_gen),
                    "drawn": "make calibrate's held-out set (calibration.lfw.held_out, same seed); a seeded sample of "
                    f"{people} of its one-image-per-person pool gives every impostor pair among them; a "
                    f"seeded sample of {genuine} of its genuine pairs",
                },
            },
            "facefleet": ff,
            "deepface_verify": bl,
            "facefleet_full_held_out_from_calibration": None if args.tiny else calibration_full_held_out(),
            "comparison": comparison,
            "sanity_sets": table,
            "plots": ["accuracy_roc.png"],
            "elapsed_s": round(time.time() - started, 1),
        },
    )
    print(
        f"\nDevTest accuracy: facefleet {100 * fd['accuracy']:.2f}% vs DeepFace.verify {100 * bd['accuracy']:.2f}% "
        f"(error rate {comparison['devtest_accuracy']['error_rate_ratio_baseline_over_facefleet']}x lower)"
    )
    print(f"DevTest TAR@FAR=1%: {100 * fd['tar_at_far_1pct']:.2f}% vs {100 * bd['tar_at_far_1pct']:.2f}%")
    if "tar_at_far_0.1pct" in fh:
        print(
            f"held-out TAR@FAR=0.1% ({len(h_imp):,} impostor pairs): {100 * fh['tar_at_far_0.1pct']:.2f}% vs "
            f"{100 * bh['tar_at_far_0.1pct']:.2f}%"
        )
    for row in table:
        print(
            f"{row['set']:<17} {row['images']:>3} images  facefleet acc {100 * row['facefleet']['accuracy']:.1f}%  "
            f"verify acc {100 * row['deepface_verify']['accuracy']:.1f}%"
        )
    tmp.cleanup()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
