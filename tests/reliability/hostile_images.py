"""Hostile and odd images as upload bytes: bombs, broken files, unusual modes, odd shapes.

Each maker returns bytes; the faces come from facefleet_testing.faces (shipped in PyPI packages).
Bombs are built by writing headers by hand, so a 4-gigapixel "image" is a few hundred bytes.
"""

from __future__ import annotations

import io
import struct
import zlib
from collections.abc import Callable

import numpy as np
from PIL import Image

from facefleet_testing import faces as F
from facefleet_testing.recognizer_api import png_60_megapixels


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def png_header_bomb(width: int = 100_000, height: int = 100_000) -> bytes:
    """A PNG whose header claims 10 gigapixels, with one tiny compressed row of data."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    idat = zlib.compress(bytes(1 + 3 * 64))
    return b"\x89PNG\r\n\x1a\n" + _png_chunk(b"IHDR", ihdr) + _png_chunk(b"IDAT", idat) + _png_chunk(b"IEND", b"")


def jpeg_header_bomb(width: int = 65_000, height: int = 65_000) -> bytes:
    """A real small JPEG whose SOF marker is patched to claim width x height (4.2 gigapixels)."""
    data = bytearray(F.jpeg(F.grace_hopper()))
    i = 2
    while i < len(data):
        marker, length = data[i + 1], struct.unpack(">H", data[i + 2 : i + 4])[0]
        if marker in (0xC0, 0xC1, 0xC2):
            data[i + 5 : i + 9] = struct.pack(">HH", height, width)
            return bytes(data)
        i += 2 + length
    raise AssertionError("no SOF marker")


def gif_header_bomb() -> bytes:
    """A GIF whose logical screen and frame claim 65535 x 65535."""
    buf = io.BytesIO()
    Image.new("P", (4, 4)).save(buf, format="GIF")
    data = bytearray(buf.getvalue())
    data[6:10] = struct.pack("<HH", 65535, 65535)  # logical screen
    j = data.index(b"\x2c")  # image descriptor: left, top, width, height
    data[j + 5 : j + 9] = struct.pack("<HH", 65535, 65535)
    return bytes(data)


def bmp_header_bomb() -> bytes:
    """A BMP header claiming 30000 x 30000 pixels and no pixel data."""
    buf = io.BytesIO()
    Image.new("RGB", (2, 2)).save(buf, format="BMP")
    data = bytearray(buf.getvalue())
    data[18:26] = struct.pack("<ii", 30_000, 30_000)
    return bytes(data)


def under_the_pixel_limit(width: int = 4_999, height: int = 5_000) -> bytes:
    """A flat grey JPEG just under the default 25-megapixel limit: decoded in full, by design."""
    return F.jpeg(Image.new("RGB", (width, height), (120, 120, 120)), quality=50)


def _save(img: Image.Image, fmt: str, **kw) -> bytes:
    buf = io.BytesIO()
    img.save(buf, format=fmt, **kw)
    return buf.getvalue()


def cmyk_jpeg() -> bytes:
    return _save(F.astronaut().convert("CMYK"), "JPEG", quality=92)


def grey16_png() -> bytes:
    grey = np.asarray(F.astronaut().convert("L"), dtype=np.uint16) * 257
    img = Image.fromarray(grey.astype("<u2"))
    assert img.mode == "I;16", img.mode
    return _save(img, "PNG")


def rgba_png() -> bytes:
    rgba = F.astronaut().convert("RGBA")
    alpha = np.full(rgba.size[::-1], 255, np.uint8)
    alpha[:, :40] = 0  # a transparent band away from the face
    rgba.putalpha(Image.fromarray(alpha, "L"))
    return _save(rgba, "PNG")


def grey_jpeg() -> bytes:
    return _save(F.astronaut().convert("L"), "JPEG", quality=92)


def palette_png() -> bytes:
    return _save(F.astronaut().convert("P", palette=Image.ADAPTIVE, colors=256), "PNG", transparency=0)


def webp() -> bytes:
    return _save(F.astronaut(), "WEBP", quality=90)


def exif_rotated_jpeg(orientation: int = 6) -> bytes:
    """Pixels stored rotated, with the EXIF Orientation tag that turns them upright (as phones do)."""
    stored = F.astronaut().transpose({6: Image.ROTATE_90, 8: Image.ROTATE_270, 3: Image.ROTATE_180}[orientation])
    exif = Image.Exif()
    exif[0x0112] = orientation
    return _save(stored, "JPEG", quality=92, exif=exif.tobytes())


def animated_gif() -> bytes:
    """Frame 1: the astronaut; frame 2: Grace Hopper. The first frame counts."""
    first = F.astronaut().convert("P", palette=Image.ADAPTIVE)
    second = F.grace_hopper().resize(F.astronaut().size).convert("P", palette=Image.ADAPTIVE)
    return _save(first, "GIF", save_all=True, append_images=[second], duration=100, loop=0)


def svg() -> bytes:
    return (
        b'<?xml version="1.0"?><svg xmlns="http://www.w3.org/2000/svg" width="512" height="512">'
        b'<circle cx="256" cy="256" r="200" fill="peachpuff"/></svg>'
    )


def eps() -> bytes:
    """PostScript (PIL would hand it to Ghostscript): must be refused, never interpreted."""
    return b"%!PS-Adobe-3.0 EPSF-3.0\n%%BoundingBox: 0 0 100 100\nshowpage\n"


def one_pixel_png() -> bytes:
    return _save(Image.new("RGB", (1, 1), (200, 160, 140)), "PNG")


def strip_png(width: int = 20_000, height: int = 10) -> bytes:
    return _save(Image.new("RGB", (width, height), (200, 160, 140)), "PNG")


def truncated_png() -> bytes:
    data = F.png(F.astronaut())
    return data[: len(data) // 2]


def truncated_jpeg_half() -> bytes:
    data = F.jpeg(F.astronaut())
    return data[: len(data) // 2]


def png_signature_garbage() -> bytes:
    return b"\x89PNG\r\n\x1a\n" + bytes(np.random.default_rng(3).integers(0, 256, 4096, dtype=np.uint8))


def corrupt_png_crc() -> bytes:
    """A complete PNG with one flipped byte inside the compressed data (CRC and zlib both fail)."""
    data = bytearray(F.png(F.grace_hopper()))
    i = data.index(b"IDAT") + 200
    data[i] ^= 0xFF
    return bytes(data)


#: name -> (maker, expected): "face:<person>" means a face is found and matches that person;
#: otherwise (HTTP status, error code) of the contract.
HOSTILE: dict[str, tuple[Callable[[], bytes], object]] = {
    "png_60mp_bomb": (png_60_megapixels, (413, "image_too_large")),
    "png_10gp_header": (png_header_bomb, (413, "image_too_large")),
    "jpeg_4gp_header": (jpeg_header_bomb, (413, "image_too_large")),
    "gif_4gp_header": (gif_header_bomb, (413, "image_too_large")),
    "bmp_900mp_header": (bmp_header_bomb, (413, "image_too_large")),
    "truncated_png": (truncated_png, (422, "not_an_image")),
    "truncated_jpeg": (truncated_jpeg_half, (422, "not_an_image")),
    "png_signature_garbage": (png_signature_garbage, (422, "not_an_image")),
    "corrupt_png": (corrupt_png_crc, (422, "not_an_image")),
    "empty": (lambda: b"", (422, "not_an_image")),
    "svg": (svg, (422, "not_an_image")),
    "eps": (eps, (422, "not_an_image")),
    "one_pixel": (one_pixel_png, (422, "no_face")),
    "strip_20000x10": (strip_png, (422, "no_face")),
    "flat_25mp_under_limit": (under_the_pixel_limit, (422, "no_face")),
    "cmyk_jpeg": (cmyk_jpeg, "face:astronaut"),
    "grey16_png": (grey16_png, "face:astronaut"),
    "rgba_png": (rgba_png, "face:astronaut"),
    "grey_jpeg": (grey_jpeg, "face:astronaut"),
    "palette_png": (palette_png, "face:astronaut"),
    "webp": (webp, "face:astronaut"),
    "exif_rotated_6": (lambda: exif_rotated_jpeg(6), "face:astronaut"),
    "exif_rotated_8": (lambda: exif_rotated_jpeg(8), "face:astronaut"),
    "animated_gif_first_frame": (animated_gif, "face:astronaut"),
}
