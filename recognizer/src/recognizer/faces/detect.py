"""Face detectors and the adaptive-scale search that keeps detection cheap on big frames.

Three raw detectors are available (FACEFLEET_DETECTOR): dlib's HOG frontal-face detector
(`hog`, the default, chosen by measurement: see recognizer/README.md), dlib's CNN MMOD
detector (`cnn`, more recall on hard poses, far slower on CPU: see the README) and OpenCV's Haar cascade
(`haar`, the detector behind DeepFace's default `opencv` backend, kept for comparison).

`Search` runs a detector on a downscaled copy (longest side 640 by default) and searches again
at a finer scale only when the verdict could be wrong: when the largest face is so small that
a second face with half its area could have been missed, or when no face was found at all.
Boxes are returned in original-image pixels.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Protocol

import cv2
import cv2.data
import numpy as np

from recognizer import defaults
from recognizer.faces.protocol import Box

DETECTORS = defaults.DETECTORS


@dataclass(frozen=True)
class Detection:
    """A detected face in original-image pixels (float corners, so nothing is lost to rounding)."""

    left: float
    top: float
    right: float
    bottom: float
    score: float

    @property
    def width(self) -> float:
        return self.right - self.left

    @property
    def height(self) -> float:
        return self.bottom - self.top

    @property
    def area(self) -> float:
        return max(0.0, self.width) * max(0.0, self.height)

    def box(self, image_shape: tuple[int, ...]) -> Box:
        """(x, y, w, h) clipped to the image."""
        h_img, w_img = image_shape[:2]
        x0 = int(round(max(0.0, self.left)))
        y0 = int(round(max(0.0, self.top)))
        x1 = int(round(min(float(w_img), self.right)))
        y1 = int(round(min(float(h_img), self.bottom)))
        return (x0, y0, max(0, x1 - x0), max(0, y1 - y0))


class RawDetector(Protocol):
    """One pass of a detector over an RGB image at its own scale."""

    #: the smallest face side (pixels at the detector's input scale, upsample 0) it finds.
    native_min_px: float

    def __call__(self, rgb: np.ndarray, upsample: int) -> list[Detection]: ...


class HogDetector:
    """dlib's HOG + linear SVM frontal face detector (80x80 window)."""

    native_min_px = 80.0

    def __init__(self, min_score: float) -> None:
        import dlib

        self._detector = dlib.get_frontal_face_detector()
        self._min_score = min_score

    def __call__(self, rgb: np.ndarray, upsample: int) -> list[Detection]:
        rects, scores, _ = self._detector.run(rgb, upsample, self._min_score)
        return [
            Detection(r.left(), r.top(), r.right() + 1, r.bottom() + 1, s) for r, s in zip(rects, scores, strict=False)
        ]


class CnnDetector:
    """dlib's CNN MMOD human face detector (mmod_human_face_detector.dat)."""

    native_min_px = 40.0

    def __init__(self, weight_file: str, min_score: float) -> None:
        import dlib

        self._detector = dlib.cnn_face_detection_model_v1(weight_file)
        self._min_score = min_score

    def __call__(self, rgb: np.ndarray, upsample: int) -> list[Detection]:
        out = []
        for d in self._detector(rgb, upsample):
            if d.confidence >= self._min_score:
                r = d.rect
                out.append(Detection(r.left(), r.top(), r.right() + 1, r.bottom() + 1, d.confidence))
        return out


class HaarDetector:
    """OpenCV's frontal-face Haar cascade (what DeepFace's `opencv` backend uses)."""

    native_min_px = 40.0

    def __init__(self) -> None:
        self._cascade = cv2.CascadeClassifier(cv2.data.haarcascades + "haarcascade_frontalface_default.xml")
        if self._cascade.empty():
            raise RuntimeError("OpenCV's haarcascade_frontalface_default.xml could not be loaded")

    def __call__(self, rgb: np.ndarray, upsample: int) -> list[Detection]:
        grey = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)
        factor = 2**upsample
        if factor > 1:
            grey = cv2.resize(grey, None, fx=factor, fy=factor, interpolation=cv2.INTER_LINEAR)
        found, _, weights = self._cascade.detectMultiScale3(
            grey, scaleFactor=1.1, minNeighbors=5, minSize=(int(self.native_min_px),) * 2, outputRejectLevels=True
        )
        return [
            Detection(x / factor, y / factor, (x + w) / factor, (y + h) / factor, float(s))
            for (x, y, w, h), s in zip(np.asarray(found).reshape(-1, 4), np.asarray(weights).reshape(-1), strict=False)
        ]


def resize(rgb: np.ndarray, scale: float) -> np.ndarray:
    """A copy scaled by `scale` (area averaging down, bilinear up); the array itself at 1."""
    if abs(scale - 1.0) < 1e-3:
        return rgb
    h, w = rgb.shape[:2]
    size = (max(1, round(w * scale)), max(1, round(h * scale)))
    return cv2.resize(rgb, size, interpolation=cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR)


class Search:
    """Adaptive-scale detection: one cheap pass in the common case, more only when needed.

    1. Detect on a copy whose longest side is `base_size` (never upscaled): it finds faces of
       `native_min_px / scale` original pixels and up.
    2. That verdict is conclusive when the largest face is big enough that any second face of
       half its area (side >= largest / sqrt 2) would have been found too. If it is not, search
       once more at exactly the scale that makes it conclusive.
    3. If nothing was found, search once more at the scale that reveals faces of `smallest_px`
       (so a too-small face is reported as such rather than as no face).
    The extra pass is capped at `max_scale` (relative to the original image) and at
    `max_pass_pixels`, so a big image can never make the detector scan a huge upsampled copy
    (in a 12-megapixel photo a face needs more than 40 px to be found at all).
    """

    def __init__(
        self,
        raw: RawDetector,
        *,
        base_size: int,
        smallest_px: float,
        max_scale: float = 2.0,
        max_pass_pixels: int = 1280 * 960,
    ) -> None:
        self.raw = raw
        self.base_size = base_size
        self.smallest_px = smallest_px
        self.max_scale = max_scale
        self.max_pass_pixels = max_pass_pixels

    def _pass(self, rgb: np.ndarray, scale: float) -> list[Detection]:
        small = resize(rgb, scale)
        sx = rgb.shape[1] / small.shape[1]
        sy = rgb.shape[0] / small.shape[0]
        found = [Detection(d.left * sx, d.top * sy, d.right * sx, d.bottom * sy, d.score) for d in self.raw(small, 0)]
        found.sort(key=lambda d: d.area, reverse=True)
        return found

    def __call__(self, rgb: np.ndarray) -> list[Detection]:
        """All faces found, largest first, in original pixels."""
        native = self.raw.native_min_px
        base = min(1.0, self.base_size / max(rgb.shape[:2]))
        found = self._pass(rgb, base)
        if found:
            side = min(found[0].width, found[0].height)
            needed = native / (math.sqrt(0.5) * side)  # scale at which a half-area face is visible
        else:
            needed = native / self.smallest_px
        h, w = rgb.shape[:2]
        cap = min(self.max_scale, math.sqrt(self.max_pass_pixels / (h * w)))
        needed = min(needed * 1.05, cap)  # 5% margin for the detector's pyramid steps
        if needed <= base:
            return found
        finer = self._pass(rgb, needed)
        return finer if finer or not found else found
