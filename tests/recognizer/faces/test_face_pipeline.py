"""The face pipeline on real dlib weights and real photos shipped in PyPI packages.

Astronaut (Eileen Collins, scikit-image) and Grace Hopper (matplotlib) are two people;
`variant()` copies are the same person with different pixels.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from facefleet_testing import faces as F
from recognizer.errors import ErrorCode, FacefleetError

ROOT = Path(__file__).resolve().parents[3]
os.environ.setdefault("DEEPFACE_HOME", str(ROOT / ".cache" / "deepface"))

from recognizer.faces import metric  # noqa: E402
from recognizer.faces.embedder import FaceEmbedder  # noqa: E402

pytestmark = pytest.mark.timeout(300)


@pytest.fixture(scope="module")
def embedder() -> FaceEmbedder:
    return FaceEmbedder.load()


@pytest.fixture(scope="module")
def astronaut(embedder):
    return embedder.embed(F.jpeg(F.astronaut()))


@pytest.fixture(scope="module")
def hopper(embedder):
    return embedder.embed(F.jpeg(F.grace_hopper()))


def _matches(a, b) -> bool:
    return metric.is_match(metric.distance(a.embedding, b.embedding), metric.DEFAULT_THRESHOLD)


def test_face_has_the_contract_shape(astronaut):
    assert astronaut.embedding.dtype == np.float32 and astronaut.embedding.shape == (128,)
    assert astronaut.model_name == metric.MODEL_NAME == "Dlib"
    x, y, w, h = astronaut.box
    # the astronaut's face sits in the upper middle of the 512x512 picture
    assert 150 < x + w / 2 < 300 and 60 < y + h / 2 < 180 and 60 < w < 140


def test_same_person_matches(embedder, astronaut, hopper):
    assert _matches(astronaut, embedder.embed(F.jpeg(F.variant(F.astronaut()))))
    other = F.variant(F.grace_hopper(), scale=0.8, shift=(-10, 5), brightness=0.8)
    assert _matches(hopper, embedder.embed(F.png(other)))


def test_different_people_do_not_match(embedder, astronaut, hopper):
    assert not _matches(astronaut, hopper)
    assert not _matches(embedder.embed(F.jpeg(F.variant(F.astronaut()))), hopper)


@pytest.mark.parametrize(
    "image",
    [
        Image.new("RGB", (640, 480), (128, 128, 128)),
        Image.fromarray((np.random.default_rng(0).random((480, 640, 3)) * 255).astype(np.uint8)),
    ],
    ids=["blank", "noise"],
)
def test_no_face(embedder, image):
    with pytest.raises(FacefleetError) as e:
        embedder.embed(F.jpeg(image))
    assert e.value.code is ErrorCode.NO_FACE


def test_two_similar_faces_are_multiple_faces(embedder):
    with pytest.raises(FacefleetError) as e:
        embedder.embed(F.jpeg(F.side_by_side(F.astronaut(), F.variant(F.astronaut()))))
    assert e.value.code is ErrorCode.MULTIPLE_FACES


def test_a_much_smaller_second_face_is_ignored(embedder, hopper):
    # Grace Hopper's face has about 4x the area of the astronaut's: the largest face is used.
    face = embedder.embed(F.jpeg(F.side_by_side(F.astronaut(), F.grace_hopper())))
    assert face.box[0] >= F.astronaut().width
    assert _matches(face, hopper)


def test_face_too_small(embedder):
    with pytest.raises(FacefleetError) as e:
        embedder.embed(F.jpeg(F.astronaut().resize((200, 200), Image.LANCZOS)))
    assert e.value.code is ErrorCode.FACE_TOO_SMALL


def test_min_face_px_is_configurable(astronaut):
    strict = FaceEmbedder.load(min_face_px=astronaut.box[2] + 10)
    with pytest.raises(FacefleetError) as e:
        strict.embed(F.jpeg(F.astronaut()))
    assert e.value.code is ErrorCode.FACE_TOO_SMALL


def _exif_rotated_jpeg(img: Image.Image) -> bytes:
    """Pixels stored rotated 90 degrees, with EXIF orientation 6 telling viewers to turn them back."""
    import io

    stored = img.transpose(Image.Transpose.ROTATE_90)
    exif = Image.Exif()
    exif[0x0112] = 6
    buf = io.BytesIO()
    stored.save(buf, format="JPEG", quality=92, exif=exif)
    return buf.getvalue()


def test_exif_rotated_face_is_found_upright(embedder, hopper):
    data = _exif_rotated_jpeg(F.grace_hopper())
    raw = np.asarray(Image.open(__import__("io").BytesIO(data)).convert("RGB"))
    assert embedder.detect(raw) == []  # the stored pixels alone hold no upright face
    face = embedder.embed(data)
    assert _matches(face, hopper)
    assert abs(face.box[0] - hopper.box[0]) < 12 and abs(face.box[1] - hopper.box[1]) < 12


def _encoded(img: Image.Image, fmt: str, **kw) -> bytes:
    import io

    buf = io.BytesIO()
    img.save(buf, format=fmt, **kw)
    return buf.getvalue()


def _sixteen_bit_grey(img: Image.Image) -> Image.Image:
    grey = np.asarray(img.convert("L"), dtype=np.uint16) * 257
    img = Image.fromarray(grey)
    assert img.mode.startswith("I;16")
    return img


def _alpha(img: Image.Image) -> Image.Image:
    rgba = img.convert("RGBA")
    a = np.full((img.height, img.width), 255, np.uint8)
    a[:, : img.width // 8] = 0  # a transparent strip away from the face
    rgba.putalpha(Image.fromarray(a))
    return rgba


@pytest.mark.parametrize(
    "make",
    [
        lambda im: _encoded(im.convert("CMYK"), "JPEG", quality=92),
        lambda im: _encoded(_sixteen_bit_grey(im), "PNG"),
        lambda im: _encoded(_alpha(im), "PNG"),
        lambda im: _encoded(im.convert("L"), "JPEG", quality=92),
        lambda im: _encoded(im.convert("P", palette=Image.Palette.ADAPTIVE), "PNG"),
        lambda im: _encoded(im, "WEBP", quality=90),
    ],
    ids=["cmyk-jpeg", "16bit-grey-png", "alpha-png", "grey-jpeg", "palette-png", "webp"],
)
def test_unusual_encodings_still_match(embedder, hopper, make):
    assert _matches(embedder.embed(make(F.grace_hopper())), hopper)


def test_sixteen_bit_is_scaled_not_clipped():
    from recognizer.faces.images import decode_image

    rgb = decode_image(_encoded(_sixteen_bit_grey(F.grace_hopper()), "PNG"))
    expected = np.asarray(F.grace_hopper().convert("L"), dtype=np.float64)
    assert rgb.shape == (*expected.shape, 3) and rgb.dtype == np.uint8
    assert abs(rgb[..., 0].mean() - expected.mean()) < 2


def test_animation_uses_the_first_frame():
    from recognizer.faces.images import decode_image

    frames = [F.grace_hopper().resize((64, 75)), Image.new("RGB", (64, 75), (255, 0, 0))]
    data = _encoded(frames[0], "GIF", save_all=True, append_images=frames[1:], duration=100)
    rgb = decode_image(data)
    assert rgb.shape == (75, 64, 3) and not (rgb[..., 0] > 200).all()


def _png_claiming(width: int, height: int) -> bytes:
    """A tiny valid PNG whose header claims width x height (a decompression bomb's header)."""
    import struct
    import zlib

    png = bytearray(_encoded(Image.new("L", (8, 8)), "PNG"))
    ihdr = png.index(b"IHDR")
    png[ihdr + 4 : ihdr + 12] = struct.pack(">II", width, height)
    png[ihdr + 17 : ihdr + 21] = struct.pack(">I", zlib.crc32(bytes(png[ihdr : ihdr + 17])))
    return bytes(png)


def test_decompression_bomb_rejected_from_its_header(monkeypatch):
    from PIL import ImageFile

    from recognizer.faces import images

    def no_decoding(self, *a, **kw):  # the pixel data must never be touched
        raise AssertionError("pixels decoded")

    monkeypatch.setattr(ImageFile.ImageFile, "load", no_decoding)
    data = _png_claiming(20_000, 20_000)  # 400 MP in 70 bytes
    assert len(data) < 200
    with pytest.raises(FacefleetError) as e:
        images.decode_image(data, max_pixels=25_000_000)
    assert e.value.code is ErrorCode.IMAGE_TOO_LARGE
    with pytest.raises(FacefleetError) as e:
        images.decode_image(_png_claiming(8000, 7500), max_pixels=50_000_000)  # 60 MP
    assert e.value.code is ErrorCode.IMAGE_TOO_LARGE


def test_too_many_bytes_rejected_before_parsing():
    from recognizer.faces.images import decode_image

    with pytest.raises(FacefleetError) as e:
        decode_image(b"\xff\xd8" + b"\0" * 2000, max_bytes=1000)
    assert e.value.code is ErrorCode.IMAGE_TOO_LARGE


@pytest.mark.parametrize(
    "data",
    [
        F.jpeg(F.grace_hopper())[:4000],  # truncated JPEG
        bytes(np.random.default_rng(1).integers(0, 256, 5000, dtype=np.uint8)),
        b"",
        b"%!PS-Adobe-3.0 EPSF-3.0\n",  # a format we refuse to decode
    ],
    ids=["truncated-jpeg", "random-bytes", "empty", "eps"],
)
def test_not_an_image(embedder, data):
    with pytest.raises(FacefleetError) as e:
        embedder.embed(data)
    assert e.value.code is ErrorCode.NOT_AN_IMAGE


def test_detect_returns_boxes_largest_first(embedder):
    img = F.as_array(F.side_by_side(F.astronaut(), F.variant(F.astronaut())))
    boxes = embedder.detect(img)
    assert len(boxes) == 2 and boxes[0][2] * boxes[0][3] >= boxes[1][2] * boxes[1][3]
    assert boxes[0][0] < 512 <= boxes[1][0] or boxes[1][0] < 512 <= boxes[0][0]
    assert all(isinstance(v, int) for b in boxes for v in b)


def test_large_frame_box_is_in_original_pixels(embedder, hopper):
    big = F.grace_hopper().resize((1024, 1200), Image.LANCZOS)
    face = embedder.embed(F.jpeg(big))
    assert _matches(face, hopper)
    tolerance = 0.15 * 2 * hopper.box[2]  # HOG boxes snap to its pyramid levels
    assert all(abs(a - 2 * b) <= tolerance for a, b in zip(face.box, hopper.box, strict=True))


def test_concurrent_calls_agree(embedder, hopper):
    data = F.jpeg(F.grace_hopper())
    results: list[np.ndarray] = []

    def work():
        results.append(embedder.embed(data).embedding)

    threads = [threading.Thread(target=work) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(results) == 4 and all(np.allclose(r, hopper.embedding, atol=1e-5) for r in results)


def test_metric_vectorised_equals_scalar(astronaut, hopper):
    m = np.stack([astronaut.embedding, hopper.embedding, astronaut.embedding])
    d = metric.distances(m, hopper.embedding)
    assert d.shape == (3,) and np.allclose(d, [metric.distance(r, hopper.embedding) for r in m])
    assert metric.distances(np.zeros((0, 128), np.float32), hopper.embedding).shape == (0,)
    assert metric.is_match(metric.DEFAULT_THRESHOLD, metric.DEFAULT_THRESHOLD)


def test_missing_weights_fail_fast_with_a_fix(tmp_path, monkeypatch):
    """Neither seeded nor in the package (an image that dropped it without seeding): a sentence, no download."""
    from recognizer import weights

    monkeypatch.setenv("DEEPFACE_HOME", str(tmp_path))
    monkeypatch.setattr(weights, "_package_models_dir", lambda: tmp_path / "no-package")
    with pytest.raises(RuntimeError, match="make weights"):
        FaceEmbedder.load()


def test_import_does_not_pull_tensorflow():
    code = (
        "import sys, recognizer.faces.embedder, recognizer.faces.metric; "
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('tensorflow', 'keras', 'torch')))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT)
    assert out.stdout.strip() == "[]"


class _RecordingDetector:
    """A raw detector that finds nothing and records the size of every image it scans."""

    native_min_px = 80.0

    def __init__(self) -> None:
        self.scanned: list[tuple[int, int]] = []

    def __call__(self, rgb, upsample):
        self.scanned.append(rgb.shape[:2])
        return []


def test_search_never_scans_a_huge_copy():
    from recognizer.faces.detect import Search

    raw = _RecordingDetector()
    search = Search(raw, base_size=640, smallest_px=40, max_pass_pixels=1280 * 960)
    assert search(np.zeros((3000, 4000, 3), np.uint8)) == []
    assert raw.scanned[0] == (480, 640)  # the base pass runs on a 640-pixel-wide copy
    assert all(h * w <= 1280 * 960 * 1.01 for h, w in raw.scanned) and len(raw.scanned) == 2


def test_embed_many_is_one_by_one_in_one_forward_pass(embedder, astronaut, hopper):
    """Enrolment's batch: the same embeddings as one at a time, and a refused image refuses them all."""
    uploads = [F.jpeg(F.astronaut()), F.jpeg(F.grace_hopper()), F.jpeg(F.variant(F.astronaut()))]
    batch = embedder.embed_many(uploads)
    singles = [embedder.embed(u) for u in uploads]
    assert [f.box for f in batch] == [f.box for f in singles]
    for got, want in zip(batch, singles, strict=True):
        assert np.linalg.norm(got.embedding - want.embedding) < 1e-4
    blank = F.jpeg(Image.new("RGB", (320, 240), (120, 120, 120)))
    with pytest.raises(FacefleetError) as err:
        embedder.embed_many([uploads[0], blank])
    assert err.value.code is ErrorCode.NO_FACE
