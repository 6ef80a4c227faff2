"""The one decision rule: Euclidean distance between Dlib embeddings, match when <= threshold.

Login (1:1 and 1:N), compare, the CLI and `make calibrate` all decide through `is_match`, so
the threshold calibrated on LFW is exactly the one the service applies. Euclidean distance on
the raw 128-d descriptors is the space dlib's network was trained in (its own rule is 0.6).
"""

from __future__ import annotations

import numpy as np

MODEL_NAME = "Dlib"
METRIC = "euclidean"
#: calibrated by `make calibrate` on LFW View 1 pairsDevTrain.txt (see recognizer/README.md).
DEFAULT_THRESHOLD = 0.594


def distance(a: np.ndarray, b: np.ndarray) -> float:
    """Euclidean distance between two embeddings."""
    return float(np.linalg.norm(np.asarray(a, dtype=np.float64) - np.asarray(b, dtype=np.float64)))


def distances(matrix: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Distances from `v` (128,) to every row of `matrix` (N, 128), vectorised; (0,) for N == 0."""
    m = np.asarray(matrix, dtype=np.float32)
    if m.size == 0:
        return np.zeros((0,), dtype=np.float64)
    diff = m - np.asarray(v, dtype=np.float32)[None, :]
    return np.sqrt(np.asarray(np.einsum("ij,ij->i", diff, diff, dtype=np.float64), dtype=np.float64))


def is_match(distance: float, threshold: float) -> bool:
    """The decision rule: a match when the distance is at most the threshold."""
    return bool(distance <= threshold)
