"""1:N identify scaling: time added per login and memory at 1k / 10k / 100k / 1M enrolled users.

Three measurements in one run:
- index (in-process): the service's own EmbeddingIndex (recognizer/index.py) loaded through its
  real `reload()` from a repository stand-in that yields N users, then `search(probe)` timed, at
  1k, 10k, 100k and 1M users; memory = the index's arrays and the process RSS growth. Next to it,
  the plain scan `metric.distances(matrix, probe)` + argmin (every distance materialised) as the
  reference the index's formulation is measured against.
- http (end to end): two recognizers on one real database server, one with 1 enrolled user and
  one with N (seeded straight into its database through the service's own Repository, so
  documents are encrypted exactly as the service writes them, then loaded by the recognizer at
  start; the probe's own user is written last, with its real embedding). Identify logins (no
  username) alternate between the two; the difference of the p50s is the time N users add to a
  login. Answers other than 200 (e.g. 503 when the database is too slow) are counted, not timed.
  RSS of both processes gives the memory N users add.
- baseline: DeepFace.find(probe, db_path=folder of N face images, model_name="Dlib") with its
  defaults; its first call builds the folder's embedding store (timed once, kept under
  .cache/bench/find/), later calls are the warm query. Sizes up to what builds in a few minutes.

Synthetic users: each is a real Dlib embedding (LFW images from calibration.lfw's cache, or the
test faces) plus isotropic Gaussian noise with sigma 0.044 per dimension, i.e. about 0.5 away
from its seed in Euclidean distance (as two photos of one person are), so the matrix has the
value distribution of real embeddings. One face per user. The probe is a face of nobody among
them (the astronaut test face), enrolled as one extra real user.
Target (recognizer issue): under 20 ms added per login at 100,000 users.
Writes identify.json and identify.png.
"""

from __future__ import annotations

import gc
import os
import secrets
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

import httpx
import numpy as np

from bench import frames
from bench.harness import (
    ROOT,
    Budget,
    log,
    mib,
    parser,
    ratio,
    rss_kb,
    save_figure,
    stack,
    start_database,
    start_recognizer,
    summary_ms,
    write_result,
)

TARGET_ADDED_MS_AT_100K = 20.0
SIGMA = 0.044  # per dimension: sqrt(128) * 0.044 = 0.50 expected distance from the seed
FIND_DIR = ROOT / ".cache" / "bench" / "find"


# -- synthetic users ---------------------------------------------------------------------------
def real_embeddings(tiny: bool) -> tuple[np.ndarray, str]:
    """Real Dlib embeddings to seed the synthesis: LFW (calibration.lfw's cache) or the test faces."""
    cache = ROOT / ".cache" / "lfw"
    files = sorted(cache.glob("embeddings-*.npz"), key=lambda p: p.stat().st_size) if cache.is_dir() else []
    if files and not tiny:
        with np.load(files[-1], allow_pickle=False) as z:
            v = np.asarray(z["vectors"], np.float32)
        if len(v) >= 100:
            return v, f"{len(v)} LFW embeddings ({files[-1].name})"
    from recognizer.faces.embedder import FaceEmbedder
    from recognizer.faces.images import decode_image

    emb = FaceEmbedder.load()
    vs = []
    for person in ("astronaut", "hopper"):
        for size in frames.RESOLUTIONS:
            vs.append(emb.embed_array(decode_image(frames.jpeg_bytes(frames.frame(size, person)))).embedding)
    return np.stack(vs).astype(np.float32), f"{len(vs)} embeddings of the test faces"


def synthesise(real: np.ndarray, n: int, seed: int = 7) -> np.ndarray:
    rng = np.random.default_rng(seed)
    out = real[rng.integers(0, len(real), n)].astype(np.float32)
    out += rng.normal(0.0, SIGMA, size=out.shape).astype(np.float32)
    return out


def usernames(n: int, prefix: str = "synthetic") -> list[str]:
    return [f"{prefix}-{i:07d}" for i in range(n)]


# -- 1. the in-process index -------------------------------------------------------------------
class SyntheticRepository:
    """Stands in for storage.Repository in EmbeddingIndex.reload(): N users, one face each."""

    def __init__(self, matrix: np.ndarray, model: str) -> None:
        self.matrix, self.model = matrix, model

    def version(self) -> int:
        return 1

    def all_embeddings(self):
        for i in range(len(self.matrix)):
            yield f"synthetic-{i:07d}", f"{i:024x}", self.model, self.matrix[i : i + 1]


def per_user_bytes(snap: Any) -> float:
    """Bytes of the index beside the matrix: usernames, user ids, row owners and the name lookup
    (the strings' sizes sampled over the first 1,000 users)."""
    n = max(1, len(snap.users))
    k = min(n, 1000)
    strings = (
        sum(sys.getsizeof(u) + sys.getsizeof(i) for u, i in zip(snap.users[:k], snap.uids[:k], strict=True)) * n / k
    )
    arrays = snap.users.nbytes + snap.uids.nbytes + snap.starts.nbytes + snap.owner_of_row.nbytes + snap.sq_norms.nbytes
    return arrays + strings + sys.getsizeof(snap.where)


def full_scan(matrix: np.ndarray, v: np.ndarray) -> tuple[int, float]:
    """The reference: every distance by the decision metric, then the smallest."""
    from recognizer.faces import metric

    d = metric.distances(matrix, v)
    i = int(np.argmin(d))
    return i, float(d[i])


def index_scaling(sizes: list[int], real: np.ndarray, probes: np.ndarray, max_seconds: float) -> list[dict[str, Any]]:
    from recognizer.faces import metric
    from recognizer.index import EmbeddingIndex

    rows = []
    for n in sizes:
        gc.collect()
        matrix = synthesise(real, n)
        rss0 = rss_kb(os.getpid(), tree=False)
        idx = EmbeddingIndex(SyntheticRepository(matrix, metric.MODEL_NAME), model_name=metric.MODEL_NAME)
        t0 = time.perf_counter()
        idx.reload()
        load_s = time.perf_counter() - t0
        rss1 = rss_kb(os.getpid(), tree=False)
        snap = idx.snapshot
        owners_bytes = per_user_bytes(snap)
        reps = max(5, min(300, int(3e7 / n)))
        times, alt = [], []
        budget = Budget(reps, max_seconds)
        agree = True
        while budget.next():
            v = probes[budget.count % len(probes)]
            t0 = time.perf_counter()
            hit = idx.search(v)
            times.append(time.perf_counter() - t0)
            t0 = time.perf_counter()
            i, d = full_scan(snap.matrix, v)
            alt.append(time.perf_counter() - t0)
            agree &= snap.users[snap.owner_of_row[i]] == hit.username and abs(d - hit.distance) < 1e-3
        s, a = summary_ms(times), summary_ms(alt)
        rows.append(
            {
                "users": n,
                "reload_s": round(load_s, 2),
                "searches": budget.count,
                "search": s,
                "full_scan": a,
                "full_scan_over_search_p50": ratio(a["p50_ms"], s["p50_ms"]),
                "same_answers_as_full_scan": bool(agree),
                "matrix_mib": round(snap.matrix.nbytes / 2**20, 1),
                "owners_mib": round(owners_bytes / 2**20, 1),
                "rss_growth_mib": mib((rss1 or 0) - (rss0 or 0)),
            }
        )
        log(
            f"index {n:>9,} users: search p50 {s['p50_ms']} ms (full scan {a['p50_ms']} ms), reload {load_s:.1f} s, "
            f"matrix {rows[-1]['matrix_mib']} MiB"
        )
        del idx, snap, matrix
    return rows


# -- 2. end to end over HTTP -------------------------------------------------------------------
def _embed(jpeg: bytes) -> np.ndarray:
    """The probe user's real embedding, by the service's own pipeline (in this process)."""
    from recognizer.faces.embedder import FaceEmbedder

    return FaceEmbedder.load().embed(jpeg).embedding


def seed_users(
    mongo_url: str,
    db_name: str,
    embedding_key: str,
    matrix: np.ndarray,
    *,
    batch: int = 2000,
    last: tuple[str, np.ndarray] | None = None,
) -> float:
    """Write N users into a recognizer's database exactly as the service stores them; seconds taken."""
    from recognizer.faces import metric
    from recognizer.storage import EmbeddingCipher, Repository

    t0 = time.perf_counter()
    # a long timeout: a 2,000-document batch may take longer than the service's 3 s bound on a busy machine
    repo = Repository(mongo_url, db_name, EmbeddingCipher(embedding_key), timeout_ms=300_000)
    try:
        repo.ensure_indexes()
        names = usernames(len(matrix))
        for start in range(0, len(matrix), batch):
            end = min(start + batch, len(matrix))
            batch_users = [(names[i], matrix[i : i + 1]) for i in range(start, end)]
            repo.import_users(batch_users, model=metric.MODEL_NAME, consent=True)
        if last is not None:  # inserted last: the worst case for a database that scans
            repo.create_user(
                last[0], np.asarray(last[1], np.float32).reshape(1, -1), model=metric.MODEL_NAME, consent=True
            )
        repo.bump_version()
    finally:
        repo.close()
    return time.perf_counter() - t0


def http_scaling(
    sizes: list[int], real: np.ndarray, tmp: Path, rounds: int, max_seconds: float, seed_budget_s: float
) -> list[dict[str, Any]]:
    S = stack()
    probe_img = frames.jpeg_bytes(frames.frame((640, 480), probe=True))
    enrol_img = frames.jpeg_bytes(frames.frame((640, 480)))
    rows: list[dict[str, Any]] = []
    with start_database(tmp / "db") as db, start_recognizer(db.url, tmp / "rec-base") as base, base.client() as cb:
        cb.post(
            "/v1/users",
            headers=base.headers,
            data={"username": "bench-probe"},
            files=[("images", ("e.jpg", enrol_img))],
        ).raise_for_status()

        def login(c, answers: Counter | None = None) -> float | None:
            """Seconds of a successful identify; other answers (e.g. 503 when the database is too
            slow) are counted in `answers` instead of timed."""
            t0 = time.perf_counter()
            r = c.post("/v1/login", files={"image": ("probe.jpg", probe_img)})
            dt = time.perf_counter() - t0
            ok = r.status_code == 200 and r.json()["username"] == "bench-probe"
            key = "200" if ok else f"{r.status_code} {r.text[:80]}"
            if answers is not None:
                answers[key] += 1
            elif not ok:
                raise RuntimeError(f"identify answered {r.status_code}: {r.text}")
            return dt if ok else None

        for _ in range(2):
            login(cb)
        probe_vec = _embed(enrol_img)
        for n in sizes:
            env = {**S.fresh_secrets(), "FACEFLEET_MONGO_DB": "bench_" + secrets.token_hex(4)}
            matrix = synthesise(real, n - 1, seed=n)
            log(f"seeding {n - 1:,} synthetic users + the probe's user (last) into the database")
            seed_s = seed_users(
                db.url,
                env["FACEFLEET_MONGO_DB"],
                env["FACEFLEET_EMBEDDING_KEY"],
                matrix,
                last=("bench-probe", probe_vec),
            )
            del matrix
            try:
                t0 = time.perf_counter()
                with (
                    S.RecognizerServer.start_new(db.url, tmp / f"rec-{n}", env, wait_ready=False) as big,
                    big.client() as ck,
                ):
                    big.wait(ready=True, timeout_s=900)  # loading N users may take minutes on a busy machine
                    ready_s = time.perf_counter() - t0
                    answers: Counter = Counter()
                    base_answers: Counter = Counter()  # both recognizers share the database server
                    for _ in range(2):
                        login(ck, Counter())
                    tb, tk = [], []
                    budget = Budget(rounds, max_seconds)
                    while budget.next():
                        pair = (
                            ((cb, tb, base_answers), (ck, tk, answers))
                            if budget.count % 2
                            else ((ck, tk, answers), (cb, tb, base_answers))
                        )
                        for c, acc, ans in pair:
                            dt = login(c, ans)
                            if dt is not None:
                                acc.append(dt)
                    sb, sk = summary_ms(tb), summary_ms(tk)
                    if not tk or not tb:
                        raise RuntimeError(
                            f"no identify login succeeded with {n:,} users: {dict(answers)}; "
                            f"with 1 user on the same database server: {dict(base_answers)}"
                        )
                    row = {
                        "users": n,
                        "seed_s": round(seed_s, 1),
                        "start_to_ready_s": round(ready_s, 1),
                        "logins_each": budget.count,
                        "answers_with_n_users": dict(answers),
                        "answers_with_1_user": dict(base_answers),
                        "base_1_user": sb,
                        "with_n_users": sk,
                        "added_p50_ms": round(sk["p50_ms"] - sb["p50_ms"], 1),
                        "added_mean_ms": round(sk["mean_ms"] - sb["mean_ms"], 1),
                        "rss_base_mib": mib(rss_kb(base.proc.pid)),
                        "rss_n_users_mib": mib(rss_kb(big.proc.pid)),
                    }
                    row["rss_added_mib"] = round(row["rss_n_users_mib"] - row["rss_base_mib"], 1)
                    rows.append(row)
                    log(
                        f"http {n:>9,} users: identify p50 {sk['p50_ms']} ms vs {sb['p50_ms']} ms with 1 user "
                        f"(+{row['added_p50_ms']} ms), RSS +{row['rss_added_mib']} MiB, ready in {ready_s:.1f} s"
                    )
            except (RuntimeError, httpx.HTTPError) as exc:  # keep the sizes measured so far
                log(f"http {n:,} users failed: {exc}")
                rows.append({"users": n, "error": str(exc)[-800:]})
                break
            with db.client() as c:
                c.drop_database(env["FACEFLEET_MONGO_DB"])
            if seed_s > seed_budget_s:
                log(f"seeding took {seed_s:.0f} s: larger HTTP sizes skipped")
                break
    return rows


# -- 3. DeepFace.find --------------------------------------------------------------------------
def find_folder(n: int, tiny: bool, tmp: Path) -> Path:
    """A folder of n face images (one per LFW person, symlinked, kept under .cache/bench/find so
    DeepFace's store is built once; tiny: test-face variants in a temporary folder)."""
    from recognizer.calibration import lfw

    d = tmp / f"find-tiny-{n}" if tiny else FIND_DIR / f"lfw-{n}"
    marker = d / ".complete"
    if marker.is_file():
        return d
    d.mkdir(parents=True, exist_ok=True)
    if tiny:
        for i in range(n):
            img = frames.frame((320, 240), "hopper" if i % 2 else "astronaut").rotate(3 * i)
            frames.write_jpeg(img, d / f"face-{i:04d}.jpg")
    else:
        root = lfw.lfw_root()
        people = sorted(lfw.image_counts(root))
        for p in people[:n]:
            src = root / lfw.image_rel(p, 1)
            (d / src.name).unlink(missing_ok=True)
            (d / src.name).symlink_to(src)
    marker.touch()
    return d


def find_scaling(sizes: list[int], tiny: bool, tmp: Path, reps: int, build_budget_s: float) -> list[dict[str, Any]]:
    import logging

    os.environ.setdefault("DEEPFACE_LOG_LEVEL", "40")
    from deepface import DeepFace

    logging.getLogger("deepface").setLevel(logging.ERROR)
    probe = frames.write_jpeg(frames.frame((640, 480), probe=True), tmp / "find-probe.jpg")
    rows = []
    for n in sizes:
        folder = find_folder(n, tiny, tmp)
        had_store = any(folder.glob("ds_model_*"))
        t0 = time.perf_counter()
        DeepFace.find(str(probe), db_path=str(folder), model_name="Dlib", silent=True)
        first_s = time.perf_counter() - t0
        times = []
        budget = Budget(reps, 120)
        while budget.next():
            t0 = time.perf_counter()
            DeepFace.find(str(probe), db_path=str(folder), model_name="Dlib", silent=True)
            times.append(time.perf_counter() - t0)
        s = summary_ms(times)
        rows.append({"users": n, "first_call_s": round(first_s, 1), "store_was_cached": had_store, "warm": s})
        log(
            f"DeepFace.find {n:>6,} images: warm p50 {s['p50_ms']} ms; first call {first_s:.1f} s"
            f"{' (store cached)' if had_store else ''}"
        )
        if not had_store and first_s > build_budget_s:
            log("building the find store took too long: larger sizes skipped")
            break
    return rows


# -- plot and main -----------------------------------------------------------------------------
def plot(index_rows, http_rows, find_rows, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (a1, a2) = plt.subplots(1, 2, figsize=(11, 4.3))
    if index_rows:
        n = [r["users"] for r in index_rows]
        a1.plot(n, [r["search"]["p50_ms"] for r in index_rows], "o-", label="EmbeddingIndex.search (p50)")
        a1.plot(n, [r["full_scan"]["p50_ms"] for r in index_rows], "s--", label="reference: metric.distances full scan")
        a2.plot(n, [r["matrix_mib"] + r["owners_mib"] for r in index_rows], "o-", label="index arrays")
    # only sizes where every identify answered 200: otherwise the "added" time is not meaningful
    http_rows = [r for r in http_rows if "with_n_users" in r and not r.get("answers_with_n_users", {}).keys() - {"200"}]
    if http_rows:
        n = [r["users"] for r in http_rows]
        a1.plot(
            n, [max(0.05, r["added_p50_ms"]) for r in http_rows], "^-", label="HTTP identify, added vs 1 user (p50)"
        )
        a2.plot(n, [max(0.1, r["rss_added_mib"]) for r in http_rows], "^-", label="recognizer RSS added")
    if find_rows:
        n = [r["users"] for r in find_rows]
        a1.plot(n, [r["warm"]["p50_ms"] for r in find_rows], "x-", label="DeepFace.find warm call, total (p50)")
    a1.axhline(TARGET_ADDED_MS_AT_100K, color="red", lw=0.8, ls=":", label="target at 100k: 20 ms")
    for ax, yl in ((a1, "ms per login"), (a2, "MiB")):
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel("enrolled users")
        ax.set_ylabel(yl)
        ax.grid(alpha=0.3, which="both")
        ax.legend(fontsize=7)
    a1.set_title("1:N identify: time", fontsize=10)
    a2.set_title("1:N identify: memory", fontsize=10)
    save_figure(fig, path)


def main(argv: list[str] | None = None) -> int:
    ap = parser(__doc__)
    ap.add_argument("--index-sizes", default="1000,10000,100000,1000000")
    ap.add_argument("--http-sizes", default="10000,100000")
    ap.add_argument("--find-sizes", default="100")
    ap.add_argument("--rounds", type=int, default=20, help="identify logins per recognizer and size")
    args = ap.parse_args(argv)
    parse = lambda s: [int(x) for x in s.split(",") if x]  # noqa: E731
    if args.tiny:
        index_sizes, http_sizes, find_sizes, rounds = [1000], [20], [2], 2
    else:
        index_sizes, http_sizes, find_sizes, rounds = (
            parse(args.index_sizes),
            parse(args.http_sizes),
            parse(args.find_sizes),
            args.rounds,
        )
    started = time.time()
    real, real_src = real_embeddings(args.tiny)
    probes = synthesise(real, 16, seed=99)
    log(f"synthesising around {real_src}")
    index_rows = index_scaling(index_sizes, real, probes, max_seconds=3 if args.tiny else 60)
    with tempfile.TemporaryDirectory(prefix="bench-identify-") as tmp_s:
        tmp = Path(tmp_s)
        http_rows = http_scaling(http_sizes, real, tmp, rounds, max_seconds=300, seed_budget_s=600)
        find_rows = find_scaling(find_sizes, args.tiny, tmp, reps=1 if args.tiny else 5, build_budget_s=400)

    at = {r["users"]: r for r in http_rows if "with_n_users" in r}
    at_100k = at.get(100_000)
    comparisons = []
    for f in find_rows:
        h = at.get(f["users"])
        if h:
            comparisons.append(
                {
                    "users": f["users"],
                    "deepface_find_warm_p50_ms": f["warm"]["p50_ms"],
                    "facefleet_http_identify_p50_ms": h["with_n_users"]["p50_ms"],
                    "find_over_facefleet": ratio(f["warm"]["p50_ms"], h["with_n_users"]["p50_ms"]),
                }
            )
    args.out.mkdir(parents=True, exist_ok=True)
    plot(index_rows, http_rows, find_rows, args.out / "identify.png")
    write_result(
        args.out,
        "identify",
        {
            "tiny": args.tiny,
            "synthesis": {
                "seeds": real_src,
                "sigma_per_dimension": SIGMA,
                "how": "each synthetic user = one real Dlib embedding + N(0, sigma^2 I) noise "
                "(~0.5 Euclidean from its seed); one face per user",
            },
            "target_added_ms_at_100k": TARGET_ADDED_MS_AT_100K,
            "index": index_rows,
            "http": http_rows,
            "http_added_ms_at_100k": None if at_100k is None else at_100k["added_p50_ms"],
            "meets_target_at_100k": None if at_100k is None else at_100k["added_p50_ms"] < TARGET_ADDED_MS_AT_100K,
            "deepface_find": find_rows,
            "find_vs_facefleet": comparisons,
            "plots": ["identify.png"],
            "elapsed_s": round(time.time() - started, 1),
        },
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
