"""detect -> align -> embed: dlib's own pipeline around DeepFace's Dlib model.

DeepFace.verify crops the detector's box and resizes it to 150x150, which is not what dlib's
ResNet was trained on; dlib's published LFW accuracy (README) comes from 5-point landmarks and
`get_face_chip` (150x150, padding 0.25). This module does exactly that: detect on a
downscaled copy (faces.detect.Search), then landmarks and the chip on the full-resolution
image, then the network (faces/engine.py: dlib's ResNet, by default as an ONNX graph; the
descriptors are dlib's either way). Several images embed in one forward call (`embed_many`).

Built once per process with `FaceEmbedder.load(...)`; every dlib call runs under one lock,
so it is safe to call from a thread pool.
"""

from __future__ import annotations

import threading
from dataclasses import asdict, dataclass
from typing import Any, Protocol

import numpy as np

from recognizer import defaults, weights
from recognizer.errors import ErrorCode, FacefleetError
from recognizer.faces import engine as engines
from recognizer.faces import metric
from recognizer.faces.detect import (
    DETECTORS,
    CnnDetector,
    Detection,
    HaarDetector,
    HogDetector,
    RawDetector,
    Search,
)
from recognizer.faces.images import decode_image
from recognizer.faces.protocol import Box, Face

DEFAULT_DETECTOR = defaults.DETECTOR
DEFAULT_MIN_FACE_PX = defaults.MIN_FACE_PX
DEFAULT_MAX_BYTES = defaults.MAX_IMAGE_BYTES
DEFAULT_MAX_PIXELS = defaults.MAX_PIXELS
DETECT_SIZE = defaults.DETECT_SIZE
#: minimum detector score: drops dlib HOG's weak false positives on textures (README: "HOG score").
MIN_SCORE = {"hog": 0.3, "cnn": 0.3, "haar": 0.0}
#: a second face counts when it is at least this share of the largest face's area.
SECOND_FACE_AREA = 0.5
CHIP_SIZE = 150
CHIP_PADDING = 0.25


@dataclass(frozen=True)
class PipelineOptions:
    """The settings a FaceEmbedder is built from (picklable: a worker process builds its own)."""

    detector: str = DEFAULT_DETECTOR
    min_face_px: int = DEFAULT_MIN_FACE_PX
    max_image_bytes: int = DEFAULT_MAX_BYTES
    max_pixels: int = DEFAULT_MAX_PIXELS
    detect_size: int = DETECT_SIZE
    engine: str = defaults.ENGINE


class ShapePredictor(Protocol):
    """dlib.shape_predictor, typed at our boundary (dlib ships no type information)."""

    def __call__(self, image: np.ndarray, box: Any) -> Any: ...


class FaceEmbedder:
    """Thread-safe face pipeline in this process, an `Embedder`; build it once with `load()`."""

    def __init__(
        self,
        *,
        detector_name: str,
        raw_detector: RawDetector,
        predictor: ShapePredictor,
        net: engines.DescriptorEngine,
        min_face_px: int,
        max_image_bytes: int,
        max_pixels: int,
        detect_size: int = DETECT_SIZE,
    ) -> None:
        self.detector_name = detector_name
        self.min_face_px = min_face_px
        self.max_image_bytes = max_image_bytes
        self.max_pixels = max_pixels
        self.model_name = metric.MODEL_NAME
        # look for faces down to 40 px (or min_face_px if smaller), so small faces get face_too_small
        self._search = Search(raw_detector, base_size=detect_size, smallest_px=max(1, min(min_face_px, 40)))
        self._predictor = predictor
        self._net = net
        self._lock = threading.Lock()

    @staticmethod
    def preflight(detector: str, engine: str = defaults.ENGINE) -> None:
        """Fail fast, with a sentence saying how to fix it, on an unknown detector or engine or a missing
        weight file."""
        if detector not in DETECTORS:
            raise ValueError(f"unknown detector {detector!r}; choose one of {', '.join(DETECTORS)}")
        if engine not in engines.ENGINES:
            raise ValueError(f"unknown engine {engine!r}; choose one of {', '.join(engines.ENGINES)}")
        needed = weights.REQUIRED_FILES + ((weights.CNN_DETECTOR,) if detector == "cnn" else ())
        weights.check_weights(needed)

    @classmethod
    def load(
        cls,
        detector: str = DEFAULT_DETECTOR,
        min_face_px: int = DEFAULT_MIN_FACE_PX,
        max_image_bytes: int = DEFAULT_MAX_BYTES,
        max_pixels: int = DEFAULT_MAX_PIXELS,
        detect_size: int = DETECT_SIZE,
        engine: str = defaults.ENGINE,
    ) -> FaceEmbedder:
        """Load the weights (never downloads: a missing file raises RuntimeError saying how to fix it)."""
        cls.preflight(detector, engine)

        import dlib

        net = engines.load(engine)
        predictor = dlib.shape_predictor(str(weights.model_file(weights.LANDMARKS_5)))
        raw: RawDetector
        if detector == "hog":
            raw = HogDetector(MIN_SCORE["hog"])
        elif detector == "cnn":
            raw = CnnDetector(str(weights.model_file(weights.CNN_DETECTOR)), MIN_SCORE["cnn"])
        else:
            raw = HaarDetector()
        return cls(
            detector_name=detector,
            raw_detector=raw,
            predictor=predictor,
            net=net,
            min_face_px=min_face_px,
            max_image_bytes=max_image_bytes,
            max_pixels=max_pixels,
            detect_size=detect_size,
        )

    def close(self) -> None:
        """Nothing to release in process (the Embedder protocol's close is for worker pools)."""

    @classmethod
    def from_options(cls, options: PipelineOptions) -> FaceEmbedder:
        return cls.load(**asdict(options))

    # --- detection -------------------------------------------------------------------------
    def detections(self, rgb: np.ndarray) -> list[Detection]:
        """Every face found, largest first, in original-image pixels."""
        with self._lock:
            return self._search(rgb)

    def detect(self, rgb: np.ndarray) -> list[Box]:
        """Face boxes (x, y, w, h), largest first, in original-image pixels."""
        return [d.box(rgb.shape) for d in self.detections(rgb)]

    # --- embedding -------------------------------------------------------------------------
    def embed(self, data: bytes) -> Face:
        """Decode upload bytes and embed the one face in them."""
        return self.embed_array(decode_image(data, max_bytes=self.max_image_bytes, max_pixels=self.max_pixels))

    def embed_many(self, images: list[bytes]) -> list[Face]:
        """Each upload's one face, the chips embedded together in one forward call; the first
        image that breaks the login rule raises its FacefleetError (nothing is half done)."""
        found = []
        for data in images:
            rgb = _as_rgb(decode_image(data, max_bytes=self.max_image_bytes, max_pixels=self.max_pixels))
            found.append((rgb, self._the_face(rgb)))
        if not found:
            return []
        with self._lock:
            chips = np.stack([self._chip(rgb, det) for rgb, det in found])
            vectors = self._net.descriptors(chips)
        return [
            Face(embedding=vec.reshape(128), box=det.box(rgb.shape), model_name=self.model_name)
            for (rgb, det), vec in zip(found, vectors, strict=True)
        ]

    def embed_array(self, rgb: np.ndarray) -> Face:
        """Embed the one face in an RGB uint8 (H, W, 3) array.

        Raises FacefleetError NO_FACE, MULTIPLE_FACES (a second face with at least half the
        largest's area) or FACE_TOO_SMALL (shorter box side under min_face_px).
        """
        rgb = _as_rgb(rgb)
        largest = self._the_face(rgb)
        return Face(
            embedding=self._embed_detection(rgb, largest), box=largest.box(rgb.shape), model_name=self.model_name
        )

    def _the_face(self, rgb: np.ndarray) -> Detection:
        """The one face the login rule accepts in the image, or the FacefleetError saying why not."""
        found = self.detections(rgb)
        if not found:
            raise FacefleetError(ErrorCode.NO_FACE, "No face was found in the image.")
        largest = found[0]
        if len(found) > 1 and found[1].area >= SECOND_FACE_AREA * largest.area:
            raise FacefleetError(
                ErrorCode.MULTIPLE_FACES,
                f"{sum(d.area >= SECOND_FACE_AREA * largest.area for d in found)} faces of similar size were found; "
                "the image must show one person.",
            )
        box = largest.box(rgb.shape)
        if min(box[2], box[3]) < self.min_face_px:
            raise FacefleetError(
                ErrorCode.FACE_TOO_SMALL,
                f"The face is {min(box[2], box[3])} pixels across; at least {self.min_face_px} are needed.",
            )
        return largest

    def embed_box(self, rgb: np.ndarray, box: Box) -> np.ndarray:
        """Landmarks, chip and embedding for a given face box (evaluation and tools; no checks)."""
        x, y, w, h = box
        return self._embed_detection(_as_rgb(rgb), Detection(x, y, x + w, y + h, 0.0))

    def chip(self, rgb: np.ndarray, det: Detection) -> np.ndarray:
        """The aligned 150x150 RGB chip the network sees (for inspection and tests)."""
        with self._lock:
            return self._chip(rgb, det)

    def _chip(self, rgb: np.ndarray, det: Detection) -> np.ndarray:
        import dlib

        shape = self._predictor(rgb, _rect(det))
        return np.asarray(dlib.get_face_chip(rgb, shape, size=CHIP_SIZE, padding=CHIP_PADDING))

    def _embed_detection(self, rgb: np.ndarray, det: Detection) -> np.ndarray:
        with self._lock:
            vectors = self._net.descriptors(self._chip(rgb, det)[None])
        vector: np.ndarray = vectors[0].reshape(128)
        return vector

    def descriptors(self, chips: np.ndarray) -> np.ndarray:
        """The bare forward pass over (n, 150, 150, 3) chips (benchmarks time it alone)."""
        with self._lock:
            return self._net.descriptors(chips)


def _rect(det: Detection) -> Any:
    import dlib

    return dlib.rectangle(
        int(round(det.left)), int(round(det.top)), int(round(det.right)) - 1, int(round(det.bottom)) - 1
    )


def _as_rgb(rgb: np.ndarray) -> np.ndarray:
    arr = np.asarray(rgb)
    if arr.dtype != np.uint8 or arr.ndim != 3 or arr.shape[2] != 3:
        raise ValueError(f"expected an RGB uint8 (H, W, 3) array, got {arr.dtype} {arr.shape}")
    return np.ascontiguousarray(arr)
