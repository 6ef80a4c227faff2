"""The model weights: found in the `face-recognition-models` PyPI package, seeded for DeepFace.

The recognizer reads each file from `$DEEPFACE_HOME/.deepface/weights` when it was seeded there
(the image seeds it and then drops the package), else straight from the installed package, so
`python -m recognizer ...` works without any environment. `python -m recognizer.weights` (used by
`make weights` and the Dockerfile) copies the files into DeepFace's folder (the DeepFace baselines
need them there: DeepFace would otherwise download them) and builds the cached ONNX graph of the
ResNet beside them. A missing file fails at start-up with a sentence that says how to fix it,
never with a download attempt.

All three files are Davis King's dlib models, released into the public domain
(github.com/davisking/dlib-models). The 68-point landmark model is NOT used: its training
set (iBUG 300-W) forbids commercial use.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import sys
from pathlib import Path

RECOGNITION = "dlib_face_recognition_resnet_model_v1.dat"
LANDMARKS_5 = "shape_predictor_5_face_landmarks.dat"
CNN_DETECTOR = "mmod_human_face_detector.dat"

#: every file the pipeline may load (the CNN detector only when FACEFLEET_DETECTOR=cnn).
WEIGHT_FILES: tuple[str, ...] = (RECOGNITION, LANDMARKS_5, CNN_DETECTOR)
#: the files the default pipeline needs to start.
REQUIRED_FILES: tuple[str, ...] = (RECOGNITION, LANDMARKS_5)

FIX_IT = "run `make weights` (or `python -m recognizer.weights`) to seed them from the face-recognition-models package"


def deepface_home() -> Path:
    """DeepFace's own rule: $DEEPFACE_HOME, else the user's home directory."""
    return Path(os.getenv("DEEPFACE_HOME", default=os.path.expanduser("~")))


def weights_dir() -> Path:
    return deepface_home() / ".deepface" / "weights"


def weight_path(name: str) -> Path:
    return weights_dir() / name


def model_file(name: str) -> Path:
    """The file to load: the seeded copy when there is one, else the installed package's own."""
    seeded = weight_path(name)
    if seeded.is_file():
        return seeded
    try:
        packaged = _package_models_dir() / name
    except RuntimeError:
        return seeded
    return packaged if packaged.is_file() else seeded


def _package_models_dir() -> Path:
    """The package's models/ folder, found without importing it (its __init__ needs pkg_resources,
    which current setuptools no longer ships)."""
    import importlib.util

    spec = importlib.util.find_spec("face_recognition_models")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("the face-recognition-models package is missing; run `make venv` to install it")
    return Path(next(iter(spec.submodule_search_locations))).resolve() / "models"


def seed(files: tuple[str, ...] = WEIGHT_FILES) -> list[Path]:
    """Copy each weight file into DeepFace's folder. Idempotent."""
    source_dir = _package_models_dir()
    target_dir = weights_dir()
    target_dir.mkdir(parents=True, exist_ok=True)
    seeded = []
    for name in files:
        src, dst = source_dir / name, target_dir / name
        if not src.is_file():
            raise RuntimeError(
                f"{src} is missing from the face-recognition-models package; reinstall it with `make venv`"
            )
        if dst.is_file() and dst.stat().st_size == src.stat().st_size:
            seeded.append(dst)
            continue
        if dst.is_symlink() or dst.exists():
            dst.unlink()
        # a copy (not a symlink) survives `COPY` into another image stage and a rebuilt .venv
        tmp = dst.with_name(dst.name + ".tmp")
        shutil.copyfile(src, tmp)
        tmp.replace(dst)
        seeded.append(dst)
    return seeded


def check_weights(files: tuple[str, ...] = REQUIRED_FILES) -> None:
    """Raise RuntimeError naming the missing files and how to fix it; never downloads."""
    missing = [name for name in files if not model_file(name).is_file()]
    if missing:
        raise RuntimeError(
            f"model weights missing in {weights_dir()} and in the face-recognition-models package: "
            f"{', '.join(missing)}; {FIX_IT} (DEEPFACE_HOME must point to the same folder at run time)"
        )


def _onnx_cache(source: Path) -> Path:
    """Where the graph built from `source` is kept: beside the seeded weights, named by its digest."""
    digest = hashlib.sha256(source.read_bytes()).hexdigest()[:16]
    return weights_dir() / f"{Path(RECOGNITION).stem}.{digest}.onnx"


def onnx_model() -> bytes:
    """The ONNX graph of the ResNet: read from the cache, else built from the weights file (and
    cached when DeepFace's folder is writable; a read-only image just builds it in memory)."""
    from recognizer.faces import dlib_resnet

    source = model_file(RECOGNITION)
    if not source.is_file():
        check_weights((RECOGNITION,))
    cache = _onnx_cache(source)
    if cache.is_file():
        return cache.read_bytes()
    blob = dlib_resnet.to_onnx(dlib_resnet.read(source))
    try:
        cache.parent.mkdir(parents=True, exist_ok=True)
        tmp = cache.with_name(f"{cache.name}.{os.getpid()}.tmp")
        tmp.write_bytes(blob)
        tmp.replace(cache)
    except OSError:
        pass  # read-only: the graph lives in memory for this process
    return blob


def main() -> int:
    for path in seed():
        print(f"seeded {path}")
    check_weights(WEIGHT_FILES)
    onnx_model()
    print(f"built {_onnx_cache(model_file(RECOGNITION))}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
