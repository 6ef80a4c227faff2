"""The forward pass: aligned 150x150 chips in, dlib's 128-d descriptors out, a batch per call.

Two engines compute the same function (tests/recognizer/faces/test_dlib_resnet_onnx.py holds them
to 1e-4, bench/engine.py on every LFW image), so embeddings keep `model: Dlib` whichever runs:
- `onnx` (default): dlib's ResNet rebuilt as an ONNX graph (faces/dlib_resnet.py) and run by
  onnxruntime, whose kernels are vectorised for this CPU and which takes a whole batch per call;
- `dlib`: dlib's own `face_recognition_model_v1` (dlib-bin, no BLAS), the reference.

The ONNX graph is built from the weights file once and cached beside it (weights.onnx_model), so a
start-up reads a file instead of rebuilding it.
"""

from __future__ import annotations

from typing import Any, Protocol

import numpy as np

from recognizer import defaults, weights

ENGINES = defaults.ENGINES


class DescriptorEngine(Protocol):
    """(n, 150, 150, 3) uint8 RGB chips -> (n, 128) float32 descriptors."""

    name: str

    def descriptors(self, chips: np.ndarray) -> np.ndarray: ...


class DlibEngine:
    """dlib's own network: the reference the ONNX graph is checked against."""

    name = "dlib"

    def __init__(self) -> None:
        import dlib

        self._net: Any = dlib.face_recognition_model_v1(str(weights.model_file(weights.RECOGNITION)))

    def descriptors(self, chips: np.ndarray) -> np.ndarray:
        if len(chips) == 0:
            return np.zeros((0, 128), np.float32)
        vectors = self._net.compute_face_descriptor([np.ascontiguousarray(c) for c in chips])
        return np.asarray([np.asarray(v) for v in vectors], dtype=np.float32).reshape(len(chips), 128)


class OnnxEngine:
    """The ONNX rebuild on onnxruntime's CPU kernels; `threads` intra-op threads per call."""

    name = "onnx"

    def __init__(self, threads: int = 1) -> None:
        import onnxruntime as ort

        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        self._session = ort.InferenceSession(weights.onnx_model(), options, providers=["CPUExecutionProvider"])

    def descriptors(self, chips: np.ndarray) -> np.ndarray:
        if len(chips) == 0:
            return np.zeros((0, 128), np.float32)
        batch = np.ascontiguousarray(chips, dtype=np.uint8)
        out = self._session.run(None, {"chips": batch})[0]
        return np.asarray(out, dtype=np.float32)


def load(name: str = defaults.ENGINE, threads: int = 1) -> DescriptorEngine:
    """The engine named by FACEFLEET_ENGINE; ValueError for an unknown name."""
    if name == "onnx":
        return OnnxEngine(threads)
    if name == "dlib":
        return DlibEngine()
    raise ValueError(f"unknown engine {name!r}; choose one of {', '.join(ENGINES)}")
