"""Load: N concurrent HTTP clients logging in for a fixed time against the real recognizer + DB.

Two recognizers (`python -m recognizer serve`: default settings, and the baseline with the face
pipeline in the server process, FACEFLEET_MODEL_PROCESSES=0) and their database run as
subprocesses on free 127.0.0.1 ports (facefleet_testing.stack); one user is enrolled. Each
client is a thread with its own keep-alive httpx client that sends 1:1 logins (640x480 JPEG
probe + username) back to back until the level's time is up (bounded in count as well).
Per concurrency level: throughput (successful logins/s), p50/p99 latency, errors (any answer
other than 200, or a transport error), and the recognizer's RSS sampled every 0.25 s.
Reference: the single-request rate is the throughput of one client (level 1). Target: zero
errors, and throughput at >= `cores` clients within 20% of single-request rate x cores.
Writes load.json and load.png. `run_load` and `RssSampler` are reused by the memory suite.
"""

from __future__ import annotations

import os
import tempfile
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from bench import frames
from bench.harness import (
    log,
    mib,
    parser,
    peak_rss_kb,
    ratio,
    rss_kb,
    save_figure,
    stack,
    start_database,
    start_recognizer,
    summary_ms,
    write_result,
)

TARGET_EFFICIENCY = 0.8  # throughput >= 80% of single-request rate x cores


@dataclass
class LoadResult:
    concurrency: int
    seconds: float
    latencies: list[float] = field(default_factory=list)
    errors: Counter = field(default_factory=Counter)

    def summary(self) -> dict[str, Any]:
        s = summary_ms(self.latencies)
        return {
            "concurrency": self.concurrency,
            "seconds": round(self.seconds, 1),
            "ok": len(self.latencies),
            "errors": sum(self.errors.values()),
            "error_kinds": dict(self.errors),
            "throughput_per_s": round(len(self.latencies) / self.seconds, 3) if self.seconds else None,
            "p50_ms": s.get("p50_ms"),
            "p99_ms": s.get("p99_ms"),
            "mean_ms": s.get("mean_ms"),
        }


def run_load(
    url: str,
    probe: bytes,
    username: str | None,
    concurrency: int,
    seconds: float,
    max_requests: int = 100_000,
    timeout_s: float = 60.0,
) -> LoadResult:
    """`concurrency` threads logging in back to back for `seconds` (and at most max_requests in all)."""
    res = LoadResult(concurrency, seconds)
    lock = threading.Lock()
    start = time.monotonic()
    deadline = start + seconds
    sent = [0]

    def worker() -> None:
        with httpx.Client(base_url=url, timeout=timeout_s, trust_env=False) as c:
            while time.monotonic() < deadline:
                with lock:
                    if sent[0] >= max_requests:
                        return
                    sent[0] += 1
                t0 = time.perf_counter()
                try:
                    r = c.post(
                        "/v1/login",
                        data={"username": username} if username else {},
                        files={"image": ("probe.jpg", probe)},
                    )
                    kind = None if r.status_code == 200 else f"{r.status_code} {_code(r)}"
                except httpx.HTTPError as exc:
                    kind = type(exc).__name__
                dt = time.perf_counter() - t0
                with lock:
                    if kind is None:
                        res.latencies.append(dt)
                    else:
                        res.errors[kind] += 1

    threads = [threading.Thread(target=worker, daemon=True) for _ in range(concurrency)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=seconds + timeout_s + 5)
    res.seconds = time.monotonic() - start
    return res


def _code(r: httpx.Response) -> str:
    try:
        return str(r.json().get("error"))
    except ValueError:
        return ""


class RssSampler:
    """Samples VmRSS of named processes every `interval_s` in a thread; peak = max(sampled, VmHWM)."""

    def __init__(self, pids: dict[str, int], interval_s: float = 0.25) -> None:
        self.pids = pids
        self.interval_s = interval_s
        self.samples: dict[str, list[tuple[float, int]]] = {k: [] for k in pids}
        self._stop = threading.Event()
        self._t0 = time.monotonic()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> RssSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=5)

    def _run(self) -> None:
        while not self._stop.is_set():
            now = time.monotonic() - self._t0
            for k, pid in self.pids.items():
                kb = rss_kb(pid)
                if kb is not None:
                    self.samples[k].append((now, kb))
            self._stop.wait(self.interval_s)

    def peaks(self) -> dict[str, dict[str, float | None]]:
        out = {}
        for k, pid in self.pids.items():
            sampled = max((kb for _, kb in self.samples[k]), default=None)
            out[k] = {
                "peak_sampled_mib": mib(sampled),
                "vm_hwm_mib": mib(peak_rss_kb(pid)),
                "last_mib": mib(self.samples[k][-1][1]) if self.samples[k] else None,
            }
        return out


def plot(
    levels: list[dict[str, Any]],
    single: float,
    cores: int,
    sampler: RssSampler,
    path: Path,
    baseline: list[dict[str, Any]] | None = None,
) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (a1, a2) = plt.subplots(1, 2, figsize=(11, 4.2))
    c = [lv["concurrency"] for lv in levels]
    a1.plot(c, [lv["throughput_per_s"] for lv in levels], "o-", label="throughput (logins/s)")
    if baseline:
        a1.plot(
            [lv["concurrency"] for lv in baseline],
            [lv["throughput_per_s"] for lv in baseline],
            "o-",
            color="orange",
            label="baseline: pipeline in the server process",
        )
    a1.axhline(single * cores, color="green", ls=":", lw=0.9, label=f"single-request rate x {cores} cores")
    a1.axhline(TARGET_EFFICIENCY * single * cores, color="red", ls=":", lw=0.9, label="target (80% of that)")
    a1.set_xlabel("concurrent clients")
    a1.set_ylabel("logins per second")
    a1.set_xscale("log", base=2)
    b = a1.twinx()
    b.plot(c, [lv["p50_ms"] for lv in levels], "s--", color="grey", label="p50 latency")
    b.plot(c, [lv["p99_ms"] for lv in levels], "^--", color="black", label="p99 latency")
    b.set_ylabel("ms")
    a1.legend(loc="upper left", fontsize=7)
    b.legend(loc="lower right", fontsize=7)
    a1.set_title("Login load: throughput and latency", fontsize=10)
    for k, s in sampler.samples.items():
        if s:
            a2.plot([t for t, _ in s], [kb / 1024 for _, kb in s], label=k)
    a2.axhline(600, color="red", ls=":", lw=0.9, label="recognizer target 600 MB")
    a2.set_xlabel("seconds")
    a2.set_ylabel("RSS, MiB")
    a2.set_title("Resident memory during the run", fontsize=10)
    a2.legend(fontsize=7)
    save_figure(fig, path)


def efficiency(rows: list[dict[str, Any]], cores: int) -> tuple[float, dict[str, Any] | None, float | None]:
    """(single-request rate, best level at >= cores clients, its throughput over rate x cores)."""
    single = rows[0]["throughput_per_s"] or 0.0
    at_cores = [r for r in rows if r["concurrency"] >= cores]
    best = max(at_cores, key=lambda r: r["throughput_per_s"] or 0) if at_cores else None
    return single, best, ratio(best["throughput_per_s"], single * cores) if best else None


def main(argv: list[str] | None = None) -> int:
    ap = parser(__doc__)
    ap.add_argument("--levels", default="1,2,4,8", help="concurrency levels (comma-separated)")
    ap.add_argument("--seconds", type=float, default=20.0, help="duration of each level")
    args = ap.parse_args(argv)
    levels = [1, 2] if args.tiny else [int(x) for x in args.levels.split(",")]
    seconds = 3.0 if args.tiny else args.seconds
    cores = os.cpu_count() or 1
    started = time.time()
    probe = frames.jpeg_bytes(frames.frame((640, 480), probe=True))
    no_lockout = {"FACEFLEET_LOCKOUT_FAILURES": "100000"}
    # Side by side on one database: the default settings (FACEFLEET_MODEL_PROCESSES=auto: one face
    # worker process per usable CPU) and the baseline with the face pipeline in the server process,
    # which shares the default's secrets and database (two replicas of one deployment).
    with tempfile.TemporaryDirectory(prefix="bench-load-") as tmp_s:
        tmp = Path(tmp_s)
        with (
            start_database(tmp / "db") as db,
            start_recognizer(db.url, tmp / "rec", no_lockout) as rec,
            start_recognizer(db.url, tmp / "inproc", {**rec.env, "FACEFLEET_MODEL_PROCESSES": "0"}) as base,
        ):
            with rec.client() as c:
                c.post(
                    "/v1/users",
                    headers=rec.headers,
                    data={"username": "bench-load"},
                    files=[("images", ("e.jpg", frames.jpeg_bytes(frames.frame((640, 480)))))],
                ).raise_for_status()
            for server in (rec, base):  # warm-up (base sees the user through the shared database)
                run_load(server.url, probe, "bench-load", 2, 2.0 if not args.tiny else 0.5)
            rows, base_rows = [], []
            with RssSampler({"recognizer": rec.proc.pid, "database": db.proc.pid}) as sampler:
                for n in levels:  # interleaved level by level, so both see the same machine
                    for server, out, label in ((base, base_rows, "in-process"), (rec, rows, "default")):
                        r = run_load(server.url, probe, "bench-load", n, seconds).summary()
                        out.append(r)
                        log(
                            f"{label:>10} {n:>3} clients: {r['throughput_per_s']}/s, p50 {r['p50_ms']} ms, "
                            f"p99 {r['p99_ms']} ms, errors {r['errors']}"
                        )
            peaks = sampler.peaks()
            threads = len(os.listdir(f"/proc/{rec.proc.pid}/task"))
            workers = len(stack().process_tree(rec.proc.pid)) - 1
    single, best, eff = efficiency(rows, cores)
    base_single, base_best, base_eff = efficiency(base_rows, cores)
    total_errors = sum(r["errors"] for r in rows + base_rows)
    args.out.mkdir(parents=True, exist_ok=True)
    plot(rows, single, cores, sampler, args.out / "load.png", base_rows)
    write_result(
        args.out,
        "load",
        {
            "tiny": args.tiny,
            "setup": {
                "request": "POST /v1/login, 640x480 JPEG probe + username (1:1), keep-alive client per thread",
                "seconds_per_level": seconds,
                "cores": cores,
                "recognizer_threads_at_end": threads,
                "recognizer_child_processes": workers,
                "recognizer_settings": "defaults (FACEFLEET_MODEL_PROCESSES=auto), lockout disabled for the run",
                "baseline_settings": "FACEFLEET_MODEL_PROCESSES=0 (the face pipeline in the server process), "
                "same database, levels interleaved with the default's",
            },
            "levels": rows,
            "single_request_rate_per_s": single,
            "ideal_per_s": round(single * cores, 3),
            "best_at_or_above_cores": best,
            "throughput_over_ideal": eff,
            "in_process": {
                "levels": base_rows,
                "single_request_rate_per_s": base_single,
                "best_at_or_above_cores": base_best,
                "throughput_over_ideal": base_eff,
            },
            "default_over_in_process_at_best": ratio(best["throughput_per_s"], base_best["throughput_per_s"])
            if best and base_best
            else None,
            "errors_total": total_errors,
            "meets_target": bool(total_errors == 0 and eff is not None and eff >= TARGET_EFFICIENCY),
            "memory": peaks,
            "plots": ["load.png"],
            "elapsed_s": round(time.time() - started, 1),
        },
    )
    print(
        f"\nsingle-request rate {single:.2f}/s x {cores} cores = {single * cores:.2f}/s; best at >= {cores} clients "
        f"{best['throughput_per_s'] if best else None}/s ({eff}x of ideal; in-process baseline {base_eff}x); "
        f"errors {total_errors}; recognizer peak RSS (with its workers) {peaks['recognizer']['vm_hwm_mib']} MiB"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
