"""Fake-webcam videos for Chromium (`--use-file-for-fake-video-capture`), generated at test time.

Every frame is a `variant` (shifted, scaled, relit) of a face that ships in a PyPI package, so the
stream is never the enrolled image itself and the tests run from a plain clone.
"""

from __future__ import annotations

import math
from pathlib import Path

import cv2
import numpy as np
from PIL import Image

from facefleet_testing.faces import variant

W, H = 640, 480


def _frame(face: Image.Image, i: int, n: int) -> np.ndarray:
    t = i / max(1, n)
    moved = variant(
        face,
        scale=0.9 + 0.05 * math.sin(2 * math.pi * t),
        shift=(int(12 * math.cos(2 * math.pi * t)), int(-8 * math.sin(2 * math.pi * t))),
        brightness=1.0 + 0.12 * math.sin(4 * math.pi * t),
    )
    k = H / moved.height
    moved = moved.resize((int(moved.width * k), H), Image.LANCZOS)
    canvas = Image.new("RGB", (W, H), (35, 35, 35))
    canvas.paste(moved, ((W - moved.width) // 2, 0))
    return cv2.cvtColor(np.asarray(canvas), cv2.COLOR_RGB2BGR)


def write_y4m(face: Image.Image, path: Path, *, frames: int = 30, fps: int = 15) -> Path:
    """A 4:2:0 Y4M loop of `frames` frames (Chromium replays it forever)."""
    with open(path, "wb") as out:
        out.write(f"YUV4MPEG2 W{W} H{H} F{fps}:1 Ip A1:1 C420jpeg\n".encode())
        for i in range(frames):
            out.write(b"FRAME\n")
            out.write(cv2.cvtColor(_frame(face, i, frames), cv2.COLOR_BGR2YUV_I420).tobytes())
    return path
