"""Choose the face detector and its detection size by measurement (results in recognizer/README.md).

Two measurements, in one run:
- LFW View 1: 10-fold cross-validated accuracy on a seeded sample of pairsDevTrain.txt pairs
  (never pairsDevTest.txt, which is kept for the final report), how often a face was found,
  and the time per 250x250 image (decode + detect + landmarks + chip + embedding);
- webcam frames from ../shared/data/video/miranda_single_face_640x360.mjpeg (one face): as
  recorded, upscaled to 1280x720, and zoomed 2x around the face (a close webcam face in
  640x360; the face sizes are in recognizer/README.md). For each frame, every configuration runs the
  service path (JPEG bytes -> Face) and the bare forward pass (150x150 chip -> 128-d) runs
  too, interleaved, so a busy shared CPU slows all of them alike; the report gives detection
  rates, p50 latencies and each configuration's ratio to the forward pass.

    nice -n 10 .venv/bin/python -m recognizer.calibration.detector_choice [--pairs 600] \
        [--configs hog,cnn,haar] [--cnn-frames 16]
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import platform
import random
import statistics
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from recognizer.calibration import lfw
from recognizer.calibration.provenance import RESULTS as RESULTS_DIR
from recognizer.calibration.provenance import ROOT, SHARED, use_seeded_weights
from recognizer.calibration.verification import cross_validated_accuracy

if TYPE_CHECKING:
    from PIL.Image import Image as PILImage

VIDEO = SHARED / "data" / "video" / "miranda_single_face_640x360.mjpeg"
RESULTS = RESULTS_DIR / "detector_choice.json"

CONFIGS = {
    "hog": lfw.PipelineConfig(detector="hog", detect_size=640),
    "hog-480": lfw.PipelineConfig(detector="hog", detect_size=480),
    "hog-320": lfw.PipelineConfig(detector="hog", detect_size=320),
    "hog-full": lfw.PipelineConfig(detector="hog", detect_size=100_000),
    "haar": lfw.PipelineConfig(detector="haar", detect_size=640),
    "cnn": lfw.PipelineConfig(detector="cnn", detect_size=640),
}
#: on 250x250 LFW images these run exactly the passes of the configuration named here.
SAME_ON_LFW = {"hog-480": "hog", "hog-320": "hog", "hog-full": "hog"}


def mjpeg_frames(path: Path) -> list[bytes]:
    """Split a raw MJPEG stream into its JPEG frames (SOI ... EOI)."""
    data = path.read_bytes()
    frames, start = [], 0
    while True:
        s = data.find(b"\xff\xd8", start)
        if s < 0:
            break
        e = data.find(b"\xff\xd9", s)
        if e < 0:
            break
        frames.append(data[s : e + 2])
        start = e + 2
    return frames


def _jpeg(img: PILImage) -> bytes:
    buf = io.BytesIO()
    img.save(buf, format="JPEG", quality=90)
    return buf.getvalue()


def upscale(jpeg: bytes, size: tuple[int, int]) -> bytes:
    from PIL import Image

    return _jpeg(Image.open(io.BytesIO(jpeg)).convert("RGB").resize(size, Image.Resampling.BICUBIC))


def zoom(jpeg: bytes, centre: tuple[float, float], factor: float = 2.0) -> bytes:
    """Crop around `centre` and scale back to the frame size: the same face, `factor` times larger."""
    from PIL import Image

    img = Image.open(io.BytesIO(jpeg)).convert("RGB")
    w, h = img.size
    cw, ch = w / factor, h / factor
    x0 = min(max(0.0, centre[0] - cw / 2), w - cw)
    y0 = min(max(0.0, centre[1] - ch / 2), h - ch)
    return _jpeg(img.crop((int(x0), int(y0), int(x0 + cw), int(y0 + ch))).resize((w, h), Image.Resampling.BICUBIC))


def sample_pairs(n: int, seed: int = 11) -> list[lfw.Pair]:
    pairs = lfw.read_pairs(lfw.lfw_root() / "pairsDevTrain.txt")
    rng = random.Random(seed)
    same = [p for p in pairs if p.same]
    diff = [p for p in pairs if not p.same]
    return rng.sample(same, n // 2) + rng.sample(diff, n // 2)


def lfw_part(cfg: lfw.PipelineConfig, pairs: list[lfw.Pair], processes: int) -> dict[str, Any]:
    rels = {r for p in pairs for r in (p.a, p.b)}
    emb = lfw.embed_images(rels, cfg, processes=processes)
    d, same = lfw.pair_distances(pairs, emb)
    secs = [emb.seconds[r] for r in rels]
    return {
        "pairs": len(pairs),
        "images": len(rels),
        "cv10_accuracy": cross_validated_accuracy(d, same),
        "faces": emb.counts(rels),
        "ms_per_image_p50": 1000 * statistics.median(secs),
    }


def video_part(names: list[str], frames: list[bytes], cnn_frames: int) -> dict[str, Any]:
    """Detection rate and latency per configuration on three webcam-like frame sets, interleaved."""
    from recognizer.errors import FacefleetError
    from recognizer.faces.embedder import FaceEmbedder
    from recognizer.faces.images import decode_image

    embedders = {n: FaceEmbedder.load(detector=CONFIGS[n].detector, detect_size=CONFIGS[n].detect_size) for n in names}
    ref = embedders.get("hog") or FaceEmbedder.load()
    first = decode_image(frames[0])
    d0 = ref.detections(first)[0]
    centre = ((d0.left + d0.right) / 2, (d0.top + d0.bottom) / 2)
    sets = {
        "640x360": frames,
        "1280x720": [upscale(f, (1280, 720)) for f in frames],
        "640x360-zoom2": [zoom(f, centre) for f in frames],
    }
    out: dict[str, Any] = {}
    for label, batch in sets.items():
        ms: dict[str, list[float]] = {n: [] for n in names}
        fwd: list[float] = []
        results: dict[str, dict[str, int]] = {n: {} for n in names}
        sides: dict[str, list[int]] = {n: [] for n in names}
        for e in embedders.values():  # warm
            with contextlib.suppress(FacefleetError):
                e.embed(batch[0])
        for k, f in enumerate(batch):
            rgb = decode_image(f)
            found = ref.detections(rgb)
            if found:
                chip = ref.chip(rgb, found[0])
                t0 = time.perf_counter()
                ref.descriptors(chip[None])
                fwd.append(1000 * (time.perf_counter() - t0))
            for n, e in embedders.items():
                if CONFIGS[n].detector == "cnn" and k >= cnn_frames:
                    continue
                t0 = time.perf_counter()
                try:
                    face = e.embed(f)
                    results[n]["ok"] = results[n].get("ok", 0) + 1
                    sides[n].append(min(face.box[2:]))
                except FacefleetError as err:
                    results[n][err.code.value] = results[n].get(err.code.value, 0) + 1
                ms[n].append(1000 * (time.perf_counter() - t0))
        fwd_p50 = statistics.median(fwd)
        out[label] = {"forward_pass_ms_p50": fwd_p50}
        for n in names:
            total = sum(results[n].values())
            p50 = statistics.median(ms[n])
            out[label][n] = {
                "frames": total,
                "results": results[n],
                "detection_rate": results[n].get("ok", 0) / total,
                "ms_p50": p50,
                "ms_p95": float(np.percentile(ms[n], 95)),
                "ratio_to_forward_pass": p50 / fwd_p50,
                "face_side_px_median": statistics.median(sides[n]) if sides[n] else None,
            }
        print(label, json.dumps(out[label]))
    return out


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--pairs", type=int, default=600)
    ap.add_argument("--configs", default=",".join(CONFIGS))
    ap.add_argument("--processes", type=int, default=2)
    ap.add_argument("--cnn-frames", type=int, default=16, help="frames per set timed for the (slow) CNN detector")
    ap.add_argument("--frames", type=int, default=0, help="use only the first N video frames (0: all)")
    ap.add_argument("--stride", type=int, default=1, help="use every N-th video frame")
    ap.add_argument("--lfw-configs", default=None, help="configurations measured on LFW (default: --configs)")
    ap.add_argument("--no-video", action="store_true")
    ap.add_argument("--no-lfw", action="store_true")
    args = ap.parse_args()
    use_seeded_weights()
    names = args.configs.split(",")
    pairs = sample_pairs(args.pairs)
    report: dict[str, Any] = {
        "machine": {"cpu_count": os.cpu_count(), "platform": platform.platform()},
        "lfw_sample": {"file": "pairsDevTrain.txt", "pairs": len(pairs), "seed": 11},
    }
    if not args.no_lfw:
        report["lfw"] = {}
        for name in args.lfw_configs.split(",") if args.lfw_configs else names:
            if name in SAME_ON_LFW:
                report["lfw"][name] = f"same as {SAME_ON_LFW[name]}: LFW images (250x250) are never downscaled"
            else:
                report["lfw"][name] = lfw_part(CONFIGS[name], pairs, args.processes)
            print(name, "LFW", json.dumps(report["lfw"][name]))
    if not args.no_video:
        frames = mjpeg_frames(VIDEO)
        frames = frames[:: args.stride][: args.frames or len(frames)]
        report["video"] = video_part(names, frames, args.cnn_frames)
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    previous = json.loads(RESULTS.read_text()) if RESULTS.is_file() else {}
    for key in ("lfw", "video"):
        if key in report and isinstance(previous.get(key), dict):
            report[key] = {**previous[key], **report[key]}
    previous.update(report)
    RESULTS.write_text(json.dumps(previous, indent=2) + "\n")
    print(f"wrote {RESULTS.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
