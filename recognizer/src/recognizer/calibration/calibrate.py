"""`make calibrate`: choose the decision threshold on LFW View 1 and report how well it does.

1. pairsDevTrain.txt (1,100 genuine + 1,100 impostor pairs) chooses the threshold: the one that
   maximises accuracy; if that one's FAR on DevTrain is above MAX_FAR (0.5%), the most accurate
   threshold with FAR <= MAX_FAR is used instead. Rounded to 3 decimals, it is the value to
   commit as DEFAULT_THRESHOLD in recognizer/faces/metric.py.
2. pairsDevTest.txt (500 + 500, never used for a choice) reports accuracy, TAR and FAR at that
   threshold (Wilson 95% intervals), and TAR at FAR = 1% (bootstrap 95% interval).
3. LFW people absent from pairsDevTrain.txt give a large held-out set (calibration.lfw.held_out):
   HELD_OUT_PEOPLE random such people, IMPOSTOR_PAIRS random impostor pairs among them, and
   one genuine pair per person with 2+ images plus DevTest's genuine pairs, for TAR at
   FAR = 0.1% (bootstrap 95% interval) and the FAR of the chosen threshold.

Writes bench/results/calibration.json and prints a table.
    nice -n 10 .venv/bin/python -m recognizer.calibration.calibrate [--processes 2] [--update-metric]
"""

from __future__ import annotations

import argparse
import json
import re
import statistics
import sys
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np

from recognizer.calibration import lfw
from recognizer.calibration.provenance import RESULTS as RESULTS_DIR
from recognizer.calibration.provenance import ROOT, git_rev, machine, use_seeded_weights, versions
from recognizer.calibration.verification import (
    Rates,
    best_accuracy_threshold,
    bootstrap_tar_at_far,
    cross_validated_accuracy,
    rates,
    tar_at_far,
)

RESULTS = RESULTS_DIR / "calibration.json"
#: the module that holds DEFAULT_THRESHOLD, rewritten by --update-metric (the installed source file).
METRIC_PY = Path(__file__).resolve().parents[1] / "faces" / "metric.py"
MAX_FAR = 0.005
SEED = 20261125
IMPOSTOR_PAIRS = 100_000
HELD_OUT_PEOPLE = 1_000
CONFIG = lfw.PipelineConfig()


def rates_dict(r: Rates) -> dict[str, Any]:
    return {k: (list(v) if isinstance(v, tuple) else v) for k, v in asdict(r).items()}


def pct(x: float) -> str:
    return f"{100 * x:.2f}%"


def ci(c: tuple[float, float]) -> str:
    return f"[{100 * c[0]:.2f}, {100 * c[1]:.2f}]"


def update_metric(threshold: float) -> None:
    text = METRIC_PY.read_text()
    new = re.sub(r"^DEFAULT_THRESHOLD = .*$", f"DEFAULT_THRESHOLD = {threshold}", text, count=1, flags=re.M)
    METRIC_PY.write_text(new)


def main() -> int:
    ap = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    ap.add_argument("--processes", type=int, default=2)
    ap.add_argument("--update-metric", action="store_true", help="write the chosen threshold into faces/metric.py")
    args = ap.parse_args()
    use_seeded_weights()
    root = lfw.lfw_root()
    if not (root / "pairsDevTrain.txt").is_file():
        print(f"LFW is not at {root} (set FACEFLEET_LFW): nothing to calibrate", file=sys.stderr)
        return 2
    from recognizer.faces import metric

    t_start = time.time()
    train = lfw.read_pairs(root / "pairsDevTrain.txt")
    test = lfw.read_pairs(root / "pairsDevTest.txt")
    held = lfw.held_out(
        root, lfw.people_in(train), seed=SEED, impostor_pairs=IMPOSTOR_PAIRS, max_people=HELD_OUT_PEOPLE
    )
    # genuine pairs for TAR at FAR=0.1%: the held-out people's, plus DevTest's (also people absent from DevTrain)
    held_genuines = list(dict.fromkeys(held.genuines + [p for p in test if p.same]))
    rels = {r for p in train + test + held_genuines for r in (p.a, p.b)} | held.images()
    emb = lfw.embed_images(rels, CONFIG, root=root, processes=args.processes)

    # 1. choose on DevTrain
    d_tr, s_tr = lfw.pair_distances(train, emb)
    t_acc = best_accuracy_threshold(d_tr, s_tr)
    r_acc = rates(d_tr, s_tr, t_acc)
    t_far = best_accuracy_threshold(d_tr, s_tr, max_far=MAX_FAR)
    chosen_raw = t_acc if r_acc.far <= MAX_FAR else t_far
    chosen = round(chosen_raw, 3)
    r_train = rates(d_tr, s_tr, chosen)

    # 2. report on DevTest
    d_te, s_te = lfw.pair_distances(test, emb)
    r_test = rates(d_te, s_te, chosen)
    tar1, t1 = tar_at_far(d_te[s_te], d_te[~s_te], 0.01)
    tar1_ci = bootstrap_tar_at_far(d_te[s_te], d_te[~s_te], 0.01, seed=SEED)

    # 3. held-out people: TAR at FAR = 0.1% over many impostor pairs
    d_hi, _ = lfw.pair_distances(held.impostors, emb)
    d_hg, _ = lfw.pair_distances(held_genuines, emb)
    d_h = np.concatenate([d_hg, d_hi])
    s_h = np.concatenate([np.ones(len(d_hg), bool), np.zeros(len(d_hi), bool)])
    r_held = rates(d_h, s_h, chosen)
    tar01, t01 = tar_at_far(d_hg, d_hi, 0.001)
    tar01_ci = bootstrap_tar_at_far(d_hg, d_hi, 0.001, seed=SEED, rounds=500)
    tar1h, t1h = tar_at_far(d_hg, d_hi, 0.01)

    # why Euclidean: 10-fold cross-validated DevTrain accuracy of both metrics on the same embeddings
    a = np.stack([emb.vectors[p.a] for p in train])
    b = np.stack([emb.vectors[p.b] for p in train])
    cosine = 1 - (a * b).sum(1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1))
    metric_check = {
        "euclidean_cv10_accuracy": cross_validated_accuracy(d_tr, s_tr),
        "cosine_cv10_accuracy": cross_validated_accuracy(cosine, s_tr),
    }

    secs = [emb.seconds[r] for r in rels]
    faces = {
        "devtrain": emb.counts({r for p in train for r in (p.a, p.b)}),
        "devtest": emb.counts({r for p in test for r in (p.a, p.b)}),
        "held_out": emb.counts(held.images() | {r for p in held_genuines for r in (p.a, p.b)}),
    }
    report: dict[str, Any] = {
        "machine": machine(),
        "versions": versions(),
        "git_rev": git_rev(),
        "pipeline": {**asdict(CONFIG), "model": metric.MODEL_NAME, "metric": metric.METRIC},
        "protocol": {
            "choose_on": "pairsDevTrain.txt",
            "report_on": "pairsDevTest.txt",
            "max_far": MAX_FAR,
            "face_selection": "detected face nearest the image centre; the median detected box when none is detected",
            "held_out": {
                "people": held.people,
                "seed": SEED,
                "impostor_pairs": len(held.impostors),
                "genuine_pairs": len(held_genuines),
                "drawn": f"{HELD_OUT_PEOPLE} people drawn at random (random.Random(seed)) among the LFW people absent "
                "from pairsDevTrain.txt; one random image per person; impostor pairs are distinct unordered "
                "pairs of those images drawn uniformly; genuine pairs are two distinct random images of each "
                "drawn person with 2+ images, plus the 500 genuine pairs of pairsDevTest.txt",
            },
        },
        "faces_found": faces,
        "metric_check_on_devtrain": metric_check,
        "seconds_per_image_p50": statistics.median(secs),
        "threshold": {
            "chosen": chosen,
            "max_accuracy_on_train": t_acc,
            "max_accuracy_far_le_0.5pct_on_train": t_far,
            "committed_default": metric.DEFAULT_THRESHOLD,
        },
        "devtrain": rates_dict(r_train),
        "devtrain_at_max_accuracy": rates_dict(r_acc),
        "devtest": {
            **rates_dict(r_test),
            "tar_at_far_1pct": tar1,
            "tar_at_far_1pct_ci": list(tar1_ci),
            "threshold_at_far_1pct": t1,
        },
        "held_out": {
            **rates_dict(r_held),
            "tar_at_far_0.1pct": tar01,
            "tar_at_far_0.1pct_ci": list(tar01_ci),
            "threshold_at_far_0.1pct": t01,
            "tar_at_far_1pct": tar1h,
            "threshold_at_far_1pct": t1h,
        },
        "elapsed_s": round(time.time() - t_start, 1),
    }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(report, indent=2) + "\n")

    rows = [
        ("threshold (Euclidean, chosen on DevTrain)", f"{chosen}", f"max-accuracy {t_acc:.4f}, FAR<=0.5% {t_far:.4f}"),
        ("DevTrain accuracy", pct(r_train.accuracy), f"FAR {pct(r_train.far)}, TAR {pct(r_train.tar)}"),
        ("DevTest accuracy", pct(r_test.accuracy), f"95% CI {ci(r_test.accuracy_ci)}, n={len(d_te)}"),
        (
            "DevTest FAR / TAR",
            f"{pct(r_test.far)} / {pct(r_test.tar)}",
            f"FAR CI {ci(r_test.far_ci)}, TAR CI {ci(r_test.tar_ci)}",
        ),
        ("DevTest TAR @ FAR=1%", pct(tar1), f"bootstrap 95% CI {ci(tar1_ci)}, threshold {t1:.4f}"),
        (
            "held-out TAR @ FAR=0.1%",
            pct(tar01),
            f"bootstrap 95% CI {ci(tar01_ci)}, {len(d_hi):,} impostor / {len(d_hg)} genuine pairs, threshold {t01:.4f}",
        ),
        (
            "held-out FAR / TAR at chosen",
            f"{pct(r_held.far)} / {pct(r_held.tar)}",
            f"FAR CI {ci(r_held.far_ci)}, TAR CI {ci(r_held.tar_ci)}",
        ),
        ("faces found (DevTest)", json.dumps(faces["devtest"]), ""),
        (
            "DevTrain 10-fold CV: Euclidean / cosine",
            f"{pct(metric_check['euclidean_cv10_accuracy'])} / {pct(metric_check['cosine_cv10_accuracy'])}",
            "the metric choice",
        ),
        ("time per LFW image (p50)", f"{1000 * report['seconds_per_image_p50']:.0f} ms", "decode+detect+align+embed"),
    ]
    w = max(len(r[0]) for r in rows)
    print()
    for name, value, note in rows:
        print(f"{name:<{w}}  {value:<16} {note}")
    print(f"\nwrote {RESULTS.relative_to(ROOT)}")
    if chosen != metric.DEFAULT_THRESHOLD:
        if args.update_metric:
            update_metric(chosen)
            print(f"updated DEFAULT_THRESHOLD in {METRIC_PY.relative_to(ROOT)} to {chosen}: commit it")
        else:
            print(
                f"note: faces/metric.py DEFAULT_THRESHOLD is {metric.DEFAULT_THRESHOLD}, calibration chose {chosen}"
                " (re-run with --update-metric to write it)"
            )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
