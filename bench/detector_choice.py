"""Choose the face detector and the detection sizes by measurement (results in recognizer/README.md).

Two measurements per configuration, in one run:
- LFW View 1: 10-fold cross-validated accuracy on a seeded sample of pairsDevTrain.txt pairs
  (never pairsDevTest.txt, which is kept for the final report), how often a face was found,
  and the time per 250x250 image (decode + detect + landmarks + chip + embedding);
- webcam frames: detection rate and latency per frame (bytes in, Face out, the service path)
  on ../shared/data/video/miranda_single_face_640x360.mjpeg, at 640x360 and upscaled to
  1280x720, next to the bare forward pass of the network on one chip.

    nice -n 10 .venv/bin/python -m bench.detector_choice [--pairs 600] [--configs hog,cnn,haar]
"""

from __future__ import annotations

import argparse
import io
import json
import os
import platform
import random
import statistics
import time
from pathlib import Path

import numpy as np

from bench import lfw
from bench.verification import cross_validated_accuracy

ROOT = lfw.ROOT
VIDEO = ROOT.parent / "shared" / "data" / "video" / "miranda_single_face_640x360.mjpeg"
RESULTS = ROOT / "bench" / "results" / "detector_choice.json"

CONFIGS = {
    "hog": lfw.PipelineConfig(detector="hog", detect_size=640),
    "hog-320": lfw.PipelineConfig(detector="hog", detect_size=320),
    "hog-full": lfw.PipelineConfig(detector="hog", detect_size=100_000),
    "cnn": lfw.PipelineConfig(detector="cnn", detect_size=640),
    "cnn-320": lfw.PipelineConfig(detector="cnn", detect_size=320),
    "haar": lfw.PipelineConfig(detector="haar", detect_size=640),
}


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
        frames.append(data[s:e + 2])
        start = e + 2
    return frames


def upscale(jpeg: bytes, size: tuple[int, int]) -> bytes:
    from PIL import Image

    img = Image.open(io.BytesIO(jpeg)).convert("RGB").resize(size, Image.BICUBIC)
    buf = io.BytesIO()
    img.save(buf, format="JPEG", quality=90)
    return buf.getvalue()


def sample_pairs(n: int, seed: int = 11) -> list[lfw.Pair]:
    pairs = lfw.read_pairs(lfw.lfw_root() / "pairsDevTrain.txt")
    rng = random.Random(seed)
    same = [p for p in pairs if p.same]
    diff = [p for p in pairs if not p.same]
    return rng.sample(same, n // 2) + rng.sample(diff, n // 2)


def lfw_part(cfg: lfw.PipelineConfig, pairs: list[lfw.Pair]) -> dict:
    rels = {r for p in pairs for r in (p.a, p.b)}
    emb = lfw.embed_images(rels, cfg)
    d, same = lfw.pair_distances(pairs, emb)
    secs = [emb.seconds[r] for r in rels]
    return {
        "pairs": len(pairs),
        "images": len(rels),
        "cv10_accuracy": cross_validated_accuracy(d, same),
        "faces": emb.counts(rels),
        "ms_per_image_p50": 1000 * statistics.median(secs),
    }


def percentile(xs: list[float], q: float) -> float:
    return float(np.percentile(np.asarray(xs), q))


def video_part(cfg: lfw.PipelineConfig, frames: list[bytes]) -> dict:
    from recognizer.errors import FacefleetError
    from recognizer.faces.embedder import FaceEmbedder

    emb = FaceEmbedder.load(detector=cfg.detector, detect_size=cfg.detect_size)
    out = {}
    for label, batch in (("640x360", frames), ("1280x720", [upscale(f, (1280, 720)) for f in frames])):
        ms, results, sides = [], {}, []
        emb.embed(batch[0])  # warm
        for f in batch:
            t0 = time.perf_counter()
            try:
                face = emb.embed(f)
                results["ok"] = results.get("ok", 0) + 1
                sides.append(min(face.box[2:]))
            except FacefleetError as e:
                results[e.code.value] = results.get(e.code.value, 0) + 1
            ms.append(1000 * (time.perf_counter() - t0))
        out[label] = {
            "frames": len(batch),
            "results": results,
            "detection_rate": results.get("ok", 0) / len(batch),
            "ms_p50": percentile(ms, 50),
            "ms_p95": percentile(ms, 95),
            "face_side_px_median": statistics.median(sides) if sides else None,
        }
    return out


def forward_pass_ms(frames: list[bytes], rounds: int = 30) -> float:
    """The bare embedding forward pass (150x150 chip -> 128-d), the floor of any login."""
    from recognizer.faces.embedder import FaceEmbedder
    from recognizer.faces.images import decode_image

    emb = FaceEmbedder.load()
    rgb = decode_image(frames[0])
    det = emb.detections(rgb)[0]
    chip = emb.chip(rgb, det)
    net = emb._net
    net.compute_face_descriptor(chip)
    ms = []
    for _ in range(rounds):
        t0 = time.perf_counter()
        net.compute_face_descriptor(chip)
        ms.append(1000 * (time.perf_counter() - t0))
    return statistics.median(ms)


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--pairs", type=int, default=600)
    ap.add_argument("--configs", default=",".join(CONFIGS))
    ap.add_argument("--no-video", action="store_true")
    args = ap.parse_args()
    os.environ.setdefault("DEEPFACE_HOME", str(ROOT / ".cache" / "deepface"))
    pairs = sample_pairs(args.pairs)
    frames = mjpeg_frames(VIDEO)
    report: dict = {"machine": {"cpu_count": os.cpu_count(), "platform": platform.platform()},
                    "lfw_sample": {"file": "pairsDevTrain.txt", "pairs": len(pairs), "seed": 11}}
    if not args.no_video:
        report["forward_pass_ms_p50"] = forward_pass_ms(frames)
        print(f"bare forward pass: {report['forward_pass_ms_p50']:.1f} ms")
    for name in args.configs.split(","):
        cfg = CONFIGS[name]
        entry = {"config": {"detector": cfg.detector, "detect_size": cfg.detect_size}}
        if name in ("hog-full", "hog-320", "cnn-320"):  # on 250x250 LFW images: exactly the passes of "hog"/"cnn"
            entry["lfw"] = "same as without the suffix: LFW images (250x250) are never downscaled"
        else:
            entry["lfw"] = lfw_part(cfg, pairs)
        print(name, "LFW", json.dumps(entry["lfw"]))
        if not args.no_video:
            entry["video"] = video_part(cfg, frames)
            print(name, "video", json.dumps(entry["video"]))
        report[name] = entry
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    previous = json.loads(RESULTS.read_text()) if RESULTS.is_file() else {}
    previous.update(report)
    RESULTS.write_text(json.dumps(previous, indent=2) + "\n")
    print(f"wrote {RESULTS.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
