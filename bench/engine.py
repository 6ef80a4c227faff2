"""Face embedding engine: dlib's ResNet rebuilt in ONNX (onnxruntime) against dlib's own forward pass.

Side by side in one run, on the same 150x150 chips:
- latency per chip, one image at a time, the two engines interleaved round by round, both on one
  thread (dlib-bin runs on one) and onnxruntime on every core as well;
- throughput in images/s for batches of 1, 8 and 32 (dlib's batched `compute_face_descriptor`
  against one onnxruntime call per batch);
- equality: the Euclidean distance between the two engines' descriptors on every LFW image (HOG box,
  or the image's centre when HOG finds none; 5 landmarks; get_face_chip), which must stay below 1e-4
  so that stored embeddings keep `model: Dlib`. Without ../shared the packaged test faces are used.
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

import numpy as np

from bench.harness import SHARED, log, parser, pctl, ratio, save_figure, summary_ms, test_faces, write_result
from recognizer import weights

TOLERANCE = 1e-4
LFW_IMAGES = SHARED / "data" / "faces" / "lfw" / "lfw-deepfunneled"


class Chipper:
    """dlib's own way from a photo to a 150x150 chip: HOG, 5 landmarks, get_face_chip(0.25)."""

    def __init__(self) -> None:
        import dlib

        self.dlib = dlib
        self.detector = dlib.get_frontal_face_detector()
        self.predictor = dlib.shape_predictor(str(weights.model_file(weights.LANDMARKS_5)))

    def chip(self, rgb: np.ndarray) -> tuple[np.ndarray, bool]:
        boxes = self.detector(rgb, 1)
        found = len(boxes) > 0
        if found:
            box = boxes[0]
        else:
            h, w = rgb.shape[:2]
            box = self.dlib.rectangle(w // 5, h // 5, w - w // 5, h - h // 5)
        shape = self.predictor(rgb, box)
        return np.asarray(self.dlib.get_face_chip(rgb, shape, size=150, padding=0.25)), found


def _session(threads: int) -> Any:
    import onnxruntime as ort

    from recognizer.faces import dlib_resnet

    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    blob = dlib_resnet.to_onnx(dlib_resnet.read(weights.model_file(weights.RECOGNITION)))
    return ort.InferenceSession(blob, options, providers=["CPUExecutionProvider"])


def _packaged_chips(chipper: Chipper, count: int) -> list[np.ndarray]:
    F = test_faces()
    photos = [F.astronaut(), F.grace_hopper()]
    photos += [
        F.variant(photos[i % 2], scale=0.8 + 0.02 * i, shift=(i, -i), brightness=0.9 + 0.03 * i)
        for i in range(max(0, count - 2))
    ]
    return [chipper.chip(np.asarray(p.convert("RGB")))[0] for p in photos[:count]]


def latency(dlib_net: Any, sessions: dict[str, Any], chips: list[np.ndarray], rounds: int) -> dict[str, Any]:
    """p50 per chip, engines interleaved within each round so machine noise hits them alike."""
    times: dict[str, list[float]] = {"dlib": [], **{k: [] for k in sessions}}
    for r in range(rounds):
        chip = chips[r % len(chips)]
        t = time.perf_counter()
        dlib_net.compute_face_descriptor(chip)
        times["dlib"].append(time.perf_counter() - t)
        for name, sess in sessions.items():
            t = time.perf_counter()
            sess.run(None, {"chips": chip[None]})
            times[name].append(time.perf_counter() - t)
    out: dict[str, Any] = {name: summary_ms(ts) for name, ts in times.items()}
    for name in sessions:
        out[f"speedup_{name}_vs_dlib"] = ratio(pctl(times["dlib"], 50), pctl(times[name], 50))
    return out


def throughput(dlib_net: Any, sess: Any, chips: list[np.ndarray], batches: list[int], repeats: int) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for size in batches:
        batch = [chips[i % len(chips)] for i in range(size)]
        stacked = np.stack(batch)
        dlib_s, onnx_s = [], []
        for _ in range(repeats):
            t = time.perf_counter()
            dlib_net.compute_face_descriptor(batch)
            dlib_s.append(time.perf_counter() - t)
            t = time.perf_counter()
            sess.run(None, {"chips": stacked})
            onnx_s.append(time.perf_counter() - t)
        dlib_rate, onnx_rate = size / pctl(dlib_s, 50), size / pctl(onnx_s, 50)
        out[str(size)] = {
            "dlib_images_per_s": round(dlib_rate, 1),
            "onnx_images_per_s": round(onnx_rate, 1),
            "ratio": ratio(onnx_rate, dlib_rate),
        }
        log(f"batch {size}: dlib {dlib_rate:.1f} img/s, onnx {onnx_rate:.1f} img/s")
    return out


def equality(
    dlib_net: Any, sess: Any, chipper: Chipper, images: list[Path] | None, packaged: list[np.ndarray], limit: int | None
) -> dict[str, Any]:
    """Distances between the engines on every image (LFW when present, else the packaged faces)."""
    from PIL import Image

    distances: list[float] = []
    no_hog_face = 0
    source = "lfw" if images else "packaged faces"
    todo = images[:limit] if images and limit else images
    started = time.monotonic()
    pending: list[np.ndarray] = []
    wanted: list[np.ndarray] = []

    def flush() -> None:
        if pending:
            got = sess.run(None, {"chips": np.stack(pending)})[0]
            distances.extend(float(np.linalg.norm(g - w)) for g, w in zip(got, wanted, strict=True))
            pending.clear()
            wanted.clear()

    for i, item in enumerate(todo if todo else packaged):
        if isinstance(item, Path):
            chip, found = chipper.chip(np.asarray(Image.open(item).convert("RGB")))
            no_hog_face += not found
        else:
            chip = item
        pending.append(chip)
        wanted.append(np.asarray(dlib_net.compute_face_descriptor(chip)))
        if len(pending) == 32:
            flush()
        if i and i % 1000 == 0:
            log(f"equality: {i} images, max distance so far {max(distances, default=0):.2e}")
    flush()
    worst = max(distances, default=float("nan"))
    return {
        "source": source,
        "images": len(distances),
        "no_hog_face_centre_box": no_hog_face,
        "max_distance": worst,
        "p99_distance": pctl(distances, 99),
        "median_distance": pctl(distances, 50),
        "over_tolerance": sum(d >= TOLERANCE for d in distances),
        "tolerance": TOLERANCE,
        "equal": worst < TOLERANCE,
        "seconds": round(time.monotonic() - started, 1),
    }


def main() -> None:
    ap = parser(__doc__)
    ap.add_argument("--rounds", type=int, default=200, help="latency rounds (one chip per engine each)")
    ap.add_argument("--lfw-limit", type=int, default=None, help="equality on the first N LFW images only")
    args = ap.parse_args()
    if args.tiny:
        args.rounds, args.lfw_limit = 3, 8
    import dlib

    chipper = Chipper()
    dlib_net = dlib.face_recognition_model_v1(str(weights.model_file(weights.RECOGNITION)))
    cores = len(os.sched_getaffinity(0))
    sessions = {"onnx_1_thread": _session(1), f"onnx_{cores}_threads": _session(cores)}
    chips = _packaged_chips(chipper, 4 if args.tiny else 16)
    log("latency per chip")
    lat = latency(dlib_net, sessions, chips, args.rounds)
    log(f"dlib p50 {lat['dlib'].get('p50_ms')} ms, onnx(1 thread) p50 {lat['onnx_1_thread'].get('p50_ms')} ms")
    thr = throughput(
        dlib_net, sessions[f"onnx_{cores}_threads"], chips, [1, 8] if args.tiny else [1, 8, 32], 2 if args.tiny else 7
    )
    images = sorted(LFW_IMAGES.rglob("*.jpg")) if LFW_IMAGES.is_dir() else None
    log(f"equality on {'LFW' if images else 'the packaged faces'}")
    eq = equality(dlib_net, sessions["onnx_1_thread"], chipper, images, chips, args.lfw_limit)
    log(f"equality: {eq['images']} images, max distance {eq['max_distance']:.2e} (tolerance {TOLERANCE})")
    args.out.mkdir(parents=True, exist_ok=True)
    plot(lat, thr, args.out / "engine.png")
    write_result(
        args.out,
        "engine",
        {
            "tiny": args.tiny,
            "plots": ["engine.png"],
            "latency_per_chip": lat,
            "throughput": thr,
            "equality": eq,
            "setup": {"rounds": args.rounds, "cores": cores, "chip": "150x150 RGB"},
        },
    )


def plot(lat: dict[str, Any], thr: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (left, right) = plt.subplots(1, 2, figsize=(9, 3.5))
    names = [k for k in lat if isinstance(lat[k], dict) and "p50_ms" in lat[k]]
    left.bar(names, [lat[k]["p50_ms"] for k in names], color=["grey"] + ["tab:blue"] * (len(names) - 1))
    left.set_ylabel("ms per chip (p50)")
    left.set_title("one chip at a time", fontsize=10)
    sizes = list(thr)
    right.plot(sizes, [thr[b]["dlib_images_per_s"] for b in sizes], "o-", color="grey", label="dlib")
    right.plot(sizes, [thr[b]["onnx_images_per_s"] for b in sizes], "o-", color="tab:blue", label="onnxruntime")
    right.set_xlabel("batch size")
    right.set_ylabel("images/s")
    right.set_title("batched", fontsize=10)
    right.legend()
    save_figure(fig, path)


if __name__ == "__main__":
    main()
