"""Turn untrusted upload bytes into an RGB array, refusing hostile inputs before they cost memory.

The format is identified from the bytes only (never a file name or content type), limited to
common photo formats. Byte and pixel limits are checked on the header, before the pixel data
is decoded, so a decompression bomb (a small file that claims a huge canvas) costs nothing.
Every other oddity a camera or an editor produces is normalised: EXIF orientation, CMYK,
16-bit, alpha, grey, palette, and the first frame of an animation.
"""

from __future__ import annotations

import io
import warnings

import numpy as np
from PIL import Image, ImageOps

from recognizer.defaults import MAX_IMAGE_BYTES as DEFAULT_MAX_BYTES
from recognizer.defaults import MAX_PIXELS as DEFAULT_MAX_PIXELS
from recognizer.errors import ErrorCode, FacefleetError

#: decoders we accept; everything else (EPS, PSD, ICO, ...) is refused as not an image.
FORMATS = ("JPEG", "PNG", "WEBP", "GIF", "BMP", "TIFF")

_BACKGROUND = (255, 255, 255)


def _not_an_image(detail: str) -> FacefleetError:
    return FacefleetError(ErrorCode.NOT_AN_IMAGE, detail)


def _too_large(detail: str) -> FacefleetError:
    return FacefleetError(ErrorCode.IMAGE_TOO_LARGE, detail)


def _open_header(data: bytes, max_pixels: int) -> Image.Image:
    """Parse the header only and enforce the pixel limit before any pixel is decoded."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            img = Image.open(io.BytesIO(data), formats=FORMATS)
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as e:
        raise _too_large(f"The image has too many pixels (limit {max_pixels:,}).") from e
    except Exception as e:  # PIL raises many types for garbage: UnidentifiedImageError, SyntaxError, ...
        raise _not_an_image("The upload is not a JPEG, PNG, WebP, GIF, BMP or TIFF image.") from e
    width, height = img.size
    if width <= 0 or height <= 0:
        raise _not_an_image("The image has no pixels.")
    if width * height > max_pixels:
        raise _too_large(f"The image is {width}x{height} = {width * height:,} pixels; the limit is {max_pixels:,}.")
    return img


def _to_rgb(img: Image.Image) -> Image.Image:
    """Normalise any PIL mode to 8-bit RGB (alpha composited on white)."""
    mode = img.mode
    if mode in ("I;16", "I;16L", "I;16B", "I;16N", "I", "F"):
        # PIL's convert() clips these to 255 instead of scaling: scale by the type's range.
        arr = np.asarray(img, dtype=np.float64)
        top = 65535.0 if mode.startswith("I;16") or arr.max(initial=0) > 255 else 255.0
        if mode == "F":
            top = max(1.0, float(arr.max(initial=1.0)))
        grey = np.clip(arr / top * 255.0 + 0.5, 0, 255).astype(np.uint8)
        return Image.fromarray(grey, "L").convert("RGB")
    if mode == "P":
        img = img.convert("RGBA" if "transparency" in img.info else "RGB")
        mode = img.mode
    if mode in ("RGBA", "LA", "PA", "RGBa", "La"):
        rgba = img.convert("RGBA")
        canvas = Image.new("RGB", rgba.size, _BACKGROUND)
        canvas.paste(rgba, mask=rgba.getchannel("A"))
        return canvas
    if mode != "RGB":
        return img.convert("RGB")  # L, 1, CMYK, YCbCr, LAB, HSV
    return img


def decode_image(
    data: bytes, *, max_bytes: int = DEFAULT_MAX_BYTES, max_pixels: int = DEFAULT_MAX_PIXELS
) -> np.ndarray:
    """Decode upload bytes to a C-contiguous RGB uint8 array (H, W, 3), upright per EXIF.

    Raises FacefleetError IMAGE_TOO_LARGE (bytes or header pixels over the limits) or
    NOT_AN_IMAGE (unknown format, truncated or corrupt data).
    """
    if len(data) > max_bytes:
        raise _too_large(f"The upload is {len(data):,} bytes; the limit is {max_bytes:,}.")
    if not data:
        raise _not_an_image("The upload is empty.")
    img = _open_header(data, max_pixels)
    try:
        if getattr(img, "is_animated", False):
            img.seek(0)
        img.load()  # raises on truncated or corrupt data (LOAD_TRUNCATED_IMAGES stays False)
        img = ImageOps.exif_transpose(img) or img
        rgb = _to_rgb(img)
        arr = np.asarray(rgb, dtype=np.uint8)
    except FacefleetError:
        raise
    except Exception as e:
        raise _not_an_image("The image data is truncated or corrupt.") from e
    if arr.ndim != 3 or arr.shape[2] != 3:
        raise _not_an_image("The image could not be converted to RGB.")
    return np.ascontiguousarray(arr)
