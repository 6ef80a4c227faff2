"""Verification metrics with their uncertainty: accuracy, TAR at a FAR, confidence intervals.

Every decision uses recognizer.faces.metric.is_match (distance <= threshold), the service's
own rule, so a threshold chosen here means the same thing in production.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

Z95 = 1.959963984540054


def wilson(successes: int, n: int, z: float = Z95) -> tuple[float, float]:
    """Wilson score interval for a binomial proportion (95% by default)."""
    if n == 0:
        return (0.0, 1.0)
    p = successes / n
    denom = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    return (max(0.0, centre - half), min(1.0, centre + half))


def decide(d: np.ndarray, threshold: float) -> np.ndarray:
    from recognizer.faces import metric

    return np.array([metric.is_match(float(x), threshold) for x in d], dtype=bool)


@dataclass(frozen=True)
class Rates:
    threshold: float
    accuracy: float
    accuracy_ci: tuple[float, float]
    tar: float
    tar_ci: tuple[float, float]
    far: float
    far_ci: tuple[float, float]
    n_genuine: int
    n_impostor: int
    false_accepts: int
    false_rejects: int


def rates(d: np.ndarray, same: np.ndarray, threshold: float) -> Rates:
    """Accuracy, TAR and FAR at a fixed threshold, each with a Wilson 95% interval."""
    match = decide(d, threshold)
    g, i = same, ~same
    correct = int((match == same).sum())
    ta, fa = int((match & g).sum()), int((match & i).sum())
    ng, ni = int(g.sum()), int(i.sum())
    return Rates(
        threshold=threshold,
        accuracy=correct / len(d),
        accuracy_ci=wilson(correct, len(d)),
        tar=ta / ng if ng else float("nan"),
        tar_ci=wilson(ta, ng),
        far=fa / ni if ni else float("nan"),
        far_ci=wilson(fa, ni),
        n_genuine=ng,
        n_impostor=ni,
        false_accepts=fa,
        false_rejects=ng - ta,
    )


def candidate_thresholds(d: np.ndarray) -> np.ndarray:
    """Midpoints between consecutive distinct distances (plus both ends)."""
    u = np.unique(d)
    mids = (u[:-1] + u[1:]) / 2 if len(u) > 1 else u
    return np.concatenate([[u[0] - 1e-6], mids, [u[-1] + 1e-6]])


def best_accuracy_threshold(d: np.ndarray, same: np.ndarray, *, max_far: float | None = None) -> float:
    """The threshold that maximises accuracy (optionally among those with FAR <= max_far).

    Ties are broken by the middle of the best run of thresholds, which is the most robust.
    """
    cands = candidate_thresholds(d)
    g, i = d[same], d[~same]
    gs, is_ = np.sort(g), np.sort(i)
    tp = np.searchsorted(gs, cands, side="right")  # genuines with d <= t
    fp = np.searchsorted(is_, cands, side="right")
    acc = (tp + (len(i) - fp)) / len(d)
    if max_far is not None:
        acc = np.where(fp / max(1, len(i)) <= max_far, acc, -1.0)
    best = np.flatnonzero(acc == acc.max())
    # the longest contiguous run among the best, its middle
    runs = np.split(best, np.flatnonzero(np.diff(best) != 1) + 1)
    run = max(runs, key=len)
    return float(cands[run[len(run) // 2]])


def threshold_at_far(impostor_d: np.ndarray, far: float) -> float:
    """The largest threshold whose FAR on these impostors is at most `far`."""
    s = np.sort(impostor_d)
    k = int(math.floor(far * len(s)))  # impostors allowed at or under the threshold
    if k >= len(s):
        return float(s[-1])
    return float(np.nextafter(s[k], -np.inf))  # accepts only distances below the (k+1)-th smallest


def cross_validated_accuracy(d: np.ndarray, same: np.ndarray, *, folds: int = 10, seed: int = 7) -> float:
    """Mean accuracy over folds, each fold scored at the threshold chosen on the others."""
    idx = np.random.default_rng(seed).permutation(len(d))
    parts = np.array_split(idx, folds)
    accs = []
    for k in range(folds):
        test = parts[k]
        train = np.concatenate([parts[j] for j in range(folds) if j != k])
        t = best_accuracy_threshold(d[train], same[train])
        accs.append(float((decide(d[test], t) == same[test]).mean()))
    return float(np.mean(accs))


def tar_at_far(genuine_d: np.ndarray, impostor_d: np.ndarray, far: float) -> tuple[float, float]:
    """(TAR, threshold) at the operating point where FAR <= far on these impostors."""
    t = threshold_at_far(impostor_d, far)
    return float(decide(genuine_d, t).mean()), t


def bootstrap_tar_at_far(
    genuine_d: np.ndarray, impostor_d: np.ndarray, far: float, *, rounds: int = 1000, seed: int = 7
) -> tuple[float, float]:
    """95% percentile-bootstrap interval of TAR@FAR, resampling genuine and impostor pairs
    (the threshold is re-estimated in every round, so its uncertainty is included)."""
    rng = np.random.default_rng(seed)
    g, i = np.asarray(genuine_d), np.asarray(impostor_d)
    out = np.empty(rounds)
    for r in range(rounds):
        gs = g[rng.integers(0, len(g), len(g))]
        is_ = i[rng.integers(0, len(i), len(i))]
        t = threshold_at_far(is_, far)
        out[r] = float((gs <= t).mean())
    lo, hi = np.percentile(out, [2.5, 97.5])
    return float(lo), float(hi)
