"""Test faces that ship inside PyPI packages, so tests run from a plain clone.

scikit-image's `astronaut` (Eileen Collins) and matplotlib's `grace_hopper.jpg` are two
different people; `variant` makes transformed copies (shift, scale, relight) so a probe is
never byte-identical to the enrolled image.
"""

from __future__ import annotations

import io
from functools import cache

import numpy as np
from PIL import Image, ImageEnhance

from facefleet_testing.paths import SHARED


@cache
def astronaut() -> Image.Image:
    from skimage import data

    return Image.fromarray(data.astronaut()).convert("RGB")


@cache
def grace_hopper() -> Image.Image:
    import matplotlib.cbook

    with matplotlib.cbook.get_sample_data("grace_hopper.jpg") as f:
        return Image.open(io.BytesIO(f.read())).convert("RGB")


def variant(
    img: Image.Image, *, scale: float = 0.9, shift: tuple[int, int] = (8, -6), brightness: float = 1.15
) -> Image.Image:
    """A shifted, scaled and relit copy: same person, different pixels."""
    w, h = img.size
    out = img.resize((int(w * scale), int(h * scale)), Image.LANCZOS)
    canvas = Image.new("RGB", (w, h), (40, 40, 40))
    canvas.paste(out, ((w - out.width) // 2 + shift[0], (h - out.height) // 2 + shift[1]))
    return ImageEnhance.Brightness(canvas).enhance(brightness)


def jpeg(img: Image.Image, quality: int = 90) -> bytes:
    buf = io.BytesIO()
    img.convert("RGB").save(buf, format="JPEG", quality=quality)
    return buf.getvalue()


def png(img: Image.Image) -> bytes:
    buf = io.BytesIO()
    img.save(buf, format="PNG")
    return buf.getvalue()


def side_by_side(a: Image.Image, b: Image.Image) -> Image.Image:
    """Two faces of similar size in one image (for `multiple_faces`)."""
    h = max(a.height, b.height)
    canvas = Image.new("RGB", (a.width + b.width, h), (0, 0, 0))
    canvas.paste(a, (0, 0))
    canvas.paste(b, (a.width, 0))
    return canvas


def shared_available() -> bool:
    return (SHARED / "data").is_dir()


def as_array(img: Image.Image) -> np.ndarray:
    return np.asarray(img.convert("RGB"))
