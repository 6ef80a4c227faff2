"""Impostors: the false-accept rate on LFW View 1 impostor pairs at the configured threshold.

Needs ../shared (LFW); skipped with a message without it. Embeddings come from calibration.lfw and
its cache under .cache/lfw/ (filled by `make calibrate`), so this test reuses, never duplicates,
the evaluation pipeline. When every View 1 impostor pair (1,100 DevTrain + 500 DevTest) is
cached, all are scored; otherwise a fixed sample of FACEFLEET_IMPOSTOR_PAIRS pairs (default 100)
is embedded (1 process, niced by the caller), and `make soak` scores all 1,600.

The decision is `faces.metric.is_match` at Settings' threshold (FACEFLEET_THRESHOLD, default the
calibrated DEFAULT_THRESHOLD): exactly the login rule. A few pairs are also sent through the real
server's /v1/compare to tie the offline number to the service.
"""

from __future__ import annotations

import os
import random

import pytest
from reliability_load import write_report

from facefleet_testing import faces as F

pytestmark = [pytest.mark.shared, pytest.mark.slow]

SAMPLE = int(os.environ.get("FACEFLEET_IMPOSTOR_PAIRS", "100"))
LONG = float(os.environ.get("FACEFLEET_SOAK_S", "0")) > 0
#: a sanity bound: a broken pipeline (e.g. all-equal embeddings) accepts most impostors.
MAX_FAR = 0.05


def _impostor_pairs():
    from recognizer.calibration import lfw

    root = lfw.lfw_root()
    if not (root / "pairsDevTrain.txt").is_file():
        pytest.skip(f"LFW View 1 not found at {root} (../shared absent): impostor FAR not measured")
    pairs = [p for name in ("pairsDevTrain.txt", "pairsDevTest.txt") for p in lfw.read_pairs(root / name) if not p.same]
    return lfw, root, pairs


def test_false_accept_rate_on_lfw_view1_impostors(recognizer_server):
    if not F.shared_available():
        pytest.skip("../shared is absent: impostor FAR not measured")
    lfw, root, pairs = _impostor_pairs()
    from recognizer.calibration.verification import wilson
    from recognizer.config import Settings
    from recognizer.faces import metric

    threshold = Settings.from_env().threshold
    cfg = lfw.PipelineConfig()
    cached = lfw.Cache(cfg).load()
    complete = all(p.a in cached.vectors and p.b in cached.vectors for p in pairs)
    chosen = pairs if (complete or LONG) else random.Random(20261125).sample(pairs, min(SAMPLE, len(pairs)))
    emb = lfw.embed_images({r for p in chosen for r in (p.a, p.b)}, cfg, root=root, processes=1, log=print)
    d, _ = lfw.pair_distances(chosen, emb)
    accepts = [p for p, x in zip(chosen, d, strict=True) if metric.is_match(float(x), threshold)]
    far = len(accepts) / len(chosen)
    lo, hi = wilson(len(accepts), len(chosen))

    # The service decides the same way: a few impostor pairs through the real /v1/compare.
    checked = []
    with recognizer_server.client(timeout=120) as c:
        for p, x in list(zip(chosen, d, strict=True))[:6]:
            r = c.post(
                "/v1/compare",
                files={
                    "image_a": ("a.jpg", (root / p.a).read_bytes()),
                    "image_b": ("b.jpg", (root / p.b).read_bytes()),
                },
            )
            if r.status_code != 200:  # LFW images with a background face: multiple_faces at the service
                assert r.json()["error"] in ("multiple_faces", "no_face", "face_too_small"), r.text
                continue
            body = r.json()
            assert body["threshold"] == threshold and body["match"] == metric.is_match(body["distance"], threshold)
            checked.append({"pair": [p.a, p.b], "offline": round(float(x), 4), "service": round(body["distance"], 4)})
            if emb.status[p.a] == emb.status[p.b] == "single":
                assert abs(body["distance"] - float(x)) < 0.05, (p, body, float(x))

    report = {
        "threshold": threshold,
        "impostor_pairs": len(chosen),
        "of_view1_impostor_pairs": len(pairs),
        "false_accepts": len(accepts),
        "far": round(far, 5),
        "far_ci95": [round(lo, 5), round(hi, 5)],
        "pipeline": cfg.key(),
        "accepted_pairs": [[p.a, p.b] for p in accepts][:20],
        "service_cross_check": checked,
    }
    path = write_report("impostors", report)
    print(
        f"\nimpostors: {len(accepts)} false accepts of {len(chosen)} LFW View 1 impostor pairs at threshold "
        f"{threshold}: FAR {far:.4f} (95% CI {lo:.4f}-{hi:.4f}) ({path})"
    )
    assert far <= MAX_FAR, report
