"""Is this camera frame worth sending? One face, big enough, sharp enough.

A cheap OpenCV Haar cascade runs on every frame in the browser's stream so the page can
outline the face live and only send the recognizer frames it is likely to accept. The
recognizer still decides; this only saves it (and the person) useless round trips.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from pathlib import Path

import cv2
import numpy as np

DETECT_WIDTH = 320  # detect on a downscaled copy (far cheaper), boxes scaled back
cv2.setNumThreads(1)  # one frame at a time per session; extra threads only contend on small nodes


@dataclass(frozen=True)
class Quality:
    faces: tuple[tuple[int, int, int, int], ...]  # (x, y, w, h) in full-frame pixels, largest first
    sharpness: float  # variance of the Laplacian over the largest face, at a fixed scale
    reason: str | None  # None when usable, else why not (shown to the person)

    @property
    def usable(self) -> bool:
        return self.reason is None

    @property
    def face(self) -> tuple[int, int, int, int] | None:
        return self.faces[0] if self.faces else None


@cache
def _cascade() -> cv2.CascadeClassifier:
    path = str(Path(cv2.__file__).parent / "data" / "haarcascade_frontalface_default.xml")
    cascade = cv2.CascadeClassifier(path)
    if cascade.empty():
        raise RuntimeError(f"cannot load {path}")
    return cascade


def detect(bgr: np.ndarray) -> list[tuple[int, int, int, int]]:
    """Face boxes in full-frame pixels, largest first."""
    h, w = bgr.shape[:2]
    scale = min(1.0, DETECT_WIDTH / w)
    small = cv2.resize(bgr, (int(w * scale), int(h * scale))) if scale < 1 else bgr
    gray = cv2.equalizeHist(cv2.cvtColor(small, cv2.COLOR_BGR2GRAY))
    found = _cascade().detectMultiScale(gray, scaleFactor=1.15, minNeighbors=5, minSize=(24, 24))
    boxes = [(round(x / scale), round(y / scale), round(w / scale), round(h / scale)) for x, y, w, h in found]
    return sorted(boxes, key=lambda b: b[2] * b[3], reverse=True)


def sharpness(bgr: np.ndarray, box: tuple[int, int, int, int]) -> float:
    x, y, w, h = box
    crop = bgr[max(0, y) : y + h, max(0, x) : x + w]
    if crop.size == 0:
        return 0.0
    gray = cv2.cvtColor(cv2.resize(crop, (128, 128)), cv2.COLOR_BGR2GRAY)
    return float(cv2.Laplacian(gray, cv2.CV_64F).var())


def assess(bgr: np.ndarray, *, min_face_px: int, min_sharpness: float) -> Quality:
    """Judge a frame with the recognizer's own rules (a second face counts only when it is at
    least half the area of the largest), plus a blur check the recognizer does not make."""
    faces = detect(bgr)
    if not faces:
        return Quality((), 0.0, "no face in view")
    largest = faces[0][2] * faces[0][3]
    if len(faces) > 1 and faces[1][2] * faces[1][3] * 2 >= largest:
        return Quality(tuple(faces), 0.0, "more than one face in view")
    if min(faces[0][2], faces[0][3]) < min_face_px:
        return Quality(tuple(faces), 0.0, "come closer: the face is too small")
    sharp = sharpness(bgr, faces[0])
    if sharp < min_sharpness:
        return Quality(tuple(faces), sharp, "hold still: the image is blurred")
    return Quality(tuple(faces), sharp, None)


def outline(bgr: np.ndarray, quality: Quality, label: str | None = None) -> np.ndarray:
    """Draw the face boxes in place: green when usable, amber otherwise."""
    color = (60, 200, 60) if quality.usable else (0, 170, 255)
    for i, (x, y, w, h) in enumerate(quality.faces):
        cv2.rectangle(bgr, (x, y), (x + w, y + h), color, 3 if i == 0 else 1)
    text = label or quality.reason
    if text:
        cv2.putText(bgr, text, (10, 28), cv2.FONT_HERSHEY_SIMPLEX, 0.7, (0, 0, 0), 4, cv2.LINE_AA)
        cv2.putText(bgr, text, (10, 28), cv2.FONT_HERSHEY_SIMPLEX, 0.7, color, 2, cv2.LINE_AA)
    return bgr


def to_jpeg(bgr: np.ndarray, quality: int = 90) -> bytes:
    ok, buf = cv2.imencode(".jpg", bgr, [cv2.IMWRITE_JPEG_QUALITY, quality])
    if not ok:
        raise ValueError("JPEG encoding failed")
    return buf.tobytes()
