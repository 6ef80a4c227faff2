"""Webcam-like test frames at fixed resolutions, built from faces that ship in PyPI packages.

A login frame shows one person close to the camera: the face spans about a third of the frame
height at every resolution (82 px at 320x240, 165 px at 640x480, 247 px at 1280x720), as a
laptop webcam would show it. The face comes from scikit-image's `astronaut` (or matplotlib's
`grace_hopper`), cropped around the face, scaled to the frame height and centred on a grey
background; `variant` relights and shifts it so a probe is never the enrolled image.
"""

from __future__ import annotations

from pathlib import Path

from PIL import Image, ImageEnhance

from bench.harness import test_faces

RESOLUTIONS: tuple[tuple[int, int], ...] = ((320, 240), (640, 480), (1280, 720))
# square crops around each face (left, top, right, bottom): the face is ~1/3 of the crop height
CROPS = {"astronaut": (85, 0, 365, 280), "hopper": (60, 40, 460, 440)}


def face_crop(person: str = "astronaut") -> Image.Image:
    f = test_faces()
    img = f.astronaut() if person == "astronaut" else f.grace_hopper()
    return img.crop(CROPS[person])


def frame(size: tuple[int, int], person: str = "astronaut", *, probe: bool = False) -> Image.Image:
    """A `size` frame (w, h); `probe=True` gives a relit, shifted copy (a different capture)."""
    w, h = size
    crop = face_crop(person)
    side = h
    face = crop.resize((side, side), Image.LANCZOS)
    canvas = Image.new("RGB", (w, h), (118, 118, 112))
    dx = (w - side) // 2 + (w // 40 if probe else 0)
    canvas.paste(face, (dx, 0))
    if probe:
        canvas = ImageEnhance.Brightness(canvas).enhance(1.12)
    return canvas


def jpeg_bytes(img: Image.Image, quality: int = 90) -> bytes:
    return test_faces().jpeg(img, quality=quality)


def write_jpeg(img: Image.Image, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(jpeg_bytes(img))
    return path


def label(size: tuple[int, int]) -> str:
    return f"{size[0]}x{size[1]}"
