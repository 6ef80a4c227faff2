"""Helpers for HTTP tests of the recognizer: test images as upload bytes, users, the stored state.

Reusable by other areas' tests (ui, bench, reliability) together with support.stack.
"""

from __future__ import annotations

import secrets
import struct
import zlib
from functools import cache
from typing import Any

import httpx
import numpy as np
from PIL import Image

from facefleet_testing import faces as F
from facefleet_testing.stack import DatabaseServer, RecognizerServer


@cache
def img(name: str) -> bytes:
    """Named test images as upload bytes (cached: building some of them costs a second)."""
    makers = {
        "astronaut": lambda: F.jpeg(F.astronaut()),
        "astronaut2": lambda: F.jpeg(F.variant(F.astronaut())),
        "astronaut3": lambda: F.png(F.variant(F.astronaut(), scale=0.85, shift=(-10, 4), brightness=0.9)),
        "hopper": lambda: F.jpeg(F.grace_hopper()),
        "hopper2": lambda: F.jpeg(F.variant(F.grace_hopper())),
        "no_face": lambda: F.jpeg(Image.new("RGB", (640, 480), (128, 128, 128))),
        "two_faces": lambda: F.jpeg(F.side_by_side(F.astronaut(), F.variant(F.astronaut()))),
        "tiny_face": lambda: F.jpeg(F.astronaut().resize((200, 200), Image.LANCZOS)),
        "random_bytes": lambda: bytes(np.random.default_rng(7).integers(0, 256, 20_000, dtype=np.uint8)),
        "truncated_jpeg": lambda: F.jpeg(F.grace_hopper())[:5000],
        "png_60mp": lambda: png_60_megapixels(),
        "over_10mb": lambda: b"\xff\xd8\xff\xe0" + bytes(10 * 1024 * 1024 + 16),
    }
    return makers[name]()


def png_60_megapixels(width: int = 8000, height: int = 7500) -> bytes:
    """A valid, fully decodable 60-megapixel black PNG of ~180 kB (a decompression bomb)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    comp, parts = zlib.compressobj(9), []
    row = bytes(1 + 3 * width)  # filter byte 0 + RGB zeros
    for _ in range(height):
        parts.append(comp.compress(row))
    parts.append(comp.flush())
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", b"".join(parts)) + chunk(b"IEND", b"")


def new_username(prefix: str = "u") -> str:
    return f"{prefix}-{secrets.token_hex(4)}"


def enrol(client: httpx.Client, rec: RecognizerServer, username: str, *images: str) -> httpx.Response:
    files = [("images", (f"{i}.jpg", img(name))) for i, name in enumerate(images or ("astronaut",))]
    return client.post("/v1/users", headers=rec.headers, data={"username": username}, files=files)


def login(client: httpx.Client, image: str, username: str | None = None) -> httpx.Response:
    data = {"username": username} if username else {}
    return client.post("/v1/login", data=data, files={"image": ("probe.jpg", img(image))})


def db_state(db: DatabaseServer, rec: RecognizerServer, *, users_only: bool = False) -> dict[str, Any]:
    """Everything the recognizer stored, to assert a rejected request changed nothing."""
    with db.client() as c:
        d = c[rec.db_name]
        names = ("users", "meta") if users_only else ("users", "meta", "audit", "lockouts")
        return {n: sorted((repr(sorted(doc.items())) for doc in d[n].find()), key=str) for n in names}


def assert_error(r: httpx.Response, status: int, code: str) -> None:
    assert r.status_code == status, r.text
    body = r.json()
    assert body["error"] == code, body
    assert set(body) == {"error", "detail"} and isinstance(body["detail"], str) and body["detail"]
