"""The ONNX rebuild of dlib's ResNet gives dlib's own descriptors (within 1e-4 Euclidean), so stored
embeddings keep `model: Dlib`: real weights, real faces from PyPI packages, dlib as the reference."""

from __future__ import annotations

import dlib
import numpy as np
import pytest

from facefleet_testing import faces as F
from recognizer import weights
from recognizer.faces import dlib_resnet

TOLERANCE = 1e-4


@pytest.fixture(scope="module")
def reference() -> dlib.face_recognition_model_v1:
    return dlib.face_recognition_model_v1(str(weights.model_file(weights.RECOGNITION)))


@pytest.fixture(scope="module")
def session():
    import onnxruntime as ort

    net = dlib_resnet.read(weights.model_file(weights.RECOGNITION))
    return ort.InferenceSession(dlib_resnet.to_onnx(net), providers=["CPUExecutionProvider"])


@pytest.fixture(scope="module")
def chips() -> list[np.ndarray]:
    """150x150 chips as the recognizer makes them: HOG box, 5 landmarks, get_face_chip(0.25)."""
    detector = dlib.get_frontal_face_detector()
    predictor = dlib.shape_predictor(str(weights.model_file(weights.LANDMARKS_5)))
    out = []
    for photo in (F.astronaut(), F.grace_hopper(), F.variant(F.astronaut()), F.variant(F.grace_hopper())):
        rgb = np.asarray(photo.convert("RGB"))
        boxes = detector(rgb, 1)
        assert boxes, "the packaged face must be found"
        out.append(np.asarray(dlib.get_face_chip(rgb, predictor(rgb, boxes[0]), size=150, padding=0.25)))
    rng = np.random.default_rng(7)
    out.append(rng.integers(0, 256, (150, 150, 3), dtype=np.uint8))  # not a face: still the same function
    return out


def test_each_chip_equals_dlib(reference, session, chips):
    for i, chip in enumerate(chips):
        want = np.asarray(reference.compute_face_descriptor(chip))
        got = session.run(None, {"chips": chip[None]})[0][0]
        assert np.linalg.norm(got - want) < TOLERANCE, f"chip {i}: {np.linalg.norm(got - want):.2e} from dlib"


def test_a_batch_equals_one_by_one(session, chips):
    batch = session.run(None, {"chips": np.stack(chips)})[0]
    for i, chip in enumerate(chips):
        single = session.run(None, {"chips": chip[None]})[0][0]
        assert np.linalg.norm(batch[i] - single) < TOLERANCE


def test_the_numpy_reference_agrees(reference, chips):
    """The plain numpy forward pass of the parsed weights is dlib's too: the parser, not onnxruntime,
    is what this proves."""
    net = dlib_resnet.read(weights.model_file(weights.RECOGNITION))
    got = dlib_resnet.forward_numpy(net, np.stack(chips[:2]))
    for i in range(2):
        assert np.linalg.norm(got[i] - np.asarray(reference.compute_face_descriptor(chips[i]))) < TOLERANCE


def test_another_file_is_refused_with_a_clear_error(tmp_path):
    bogus = tmp_path / "not_a_resnet.dat"
    bogus.write_bytes((weights.model_file(weights.LANDMARKS_5)).read_bytes())
    with pytest.raises(dlib_resnet.WeightsFormatError, match="not dlib's face-recognition ResNet"):
        dlib_resnet.read(bogus)
