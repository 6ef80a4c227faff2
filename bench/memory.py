"""Memory: peak RSS of the recognizer and of the ui while both are under load.

The whole stack runs on 127.0.0.1: database, recognizer, and the ui (`python -m facefleet_ui`,
started by facefleet_testing.ui_stack's UiServer) pointed at that recognizer. Load, at the same time:
- `cores` HTTP clients logging in back to back against the recognizer (bench.load.run_load);
- `--browsers` headless Chromium sessions (facefleet_testing.ui_browser) on the ui's login page with
  the camera STARTED, each streaming a generated video of a face nobody enrolled (grace_hopper,
  so the ui keeps processing frames and asking the recognizer, never logging in);
  skipped, and said so, when Chromium is not installed.
RSS (process and its children) is sampled every 0.25 s; VmHWM (the kernel's peak) too.
Target (recognizer issue): recognizer peak RSS under 600 MB. Writes memory.json and memory.png.
"""

from __future__ import annotations

import os
import tempfile
import time
from pathlib import Path
from typing import Any

from bench import frames
from bench.harness import (
    log,
    mib,
    parser,
    peak_rss_kb,
    save_figure,
    stack,
    start_database,
    start_recognizer,
    test_faces,
    write_result,
)
from bench.load import RssSampler, run_load

TARGET_RECOGNIZER_MB = 600
# the browsers show an unenrolled face on purpose: keep the recognizer answering no_match, not 429
NO_LOCKOUT = {"FACEFLEET_LOCKOUT_FAILURES": "100000", "FACEFLEET_IDENTIFY_RATE_FAILURES": "100000"}


def ui_helpers():
    """UiServer, the Chromium driver helpers and the fake-webcam writer (the ui tests' own)."""
    from facefleet_testing import ui_browser, ui_media, ui_stack

    return ui_stack, ui_browser, ui_media


def plot(sampler: RssSampler, marks: dict[str, float], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8, 4))
    for k, s in sampler.samples.items():
        if s:
            ax.plot([t for t, _ in s], [kb / 1024 for _, kb in s], label=k)
    ax.axhline(TARGET_RECOGNIZER_MB * 1e6 / 2**20, color="red", ls=":", lw=0.9, label="recognizer target 600 MB")
    for name, t in marks.items():
        ax.axvline(t, color="grey", lw=0.6, ls="--")
        ax.text(t, ax.get_ylim()[1] * 0.95, name, fontsize=7, rotation=90, va="top")
    ax.set_xlabel("seconds")
    ax.set_ylabel("RSS, MiB")
    ax.set_title("Resident memory: idle, then HTTP load + browser sessions", fontsize=10)
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    save_figure(fig, path)


def main(argv: list[str] | None = None) -> int:
    ap = parser(__doc__)
    ap.add_argument("--seconds", type=float, default=40.0, help="duration of the load")
    ap.add_argument("--browsers", type=int, default=1, help="headless Chromium sessions streaming into the ui")
    args = ap.parse_args(argv)
    seconds = 4.0 if args.tiny else args.seconds
    n_browsers = 0 if args.tiny else args.browsers
    cores = os.cpu_count() or 1
    stack()  # the real stack's launchers, imported before timing starts
    ui_stack, B, media = ui_helpers()
    started = time.time()
    probe = frames.jpeg_bytes(frames.frame((640, 480), probe=True))
    browsers_note = f"{n_browsers} Chromium sessions streaming into the ui"
    drivers = []
    with tempfile.TemporaryDirectory(prefix="bench-memory-") as tmp_s:
        tmp = Path(tmp_s)
        with (
            start_database(tmp / "db") as db,
            start_recognizer(db.url, tmp / "rec", NO_LOCKOUT) as rec,
            ui_stack.UiServer(rec.url, rec.api_key, tmp / "ui").start(timeout_s=600) as ui,
        ):
            with rec.client() as c:
                c.post(
                    "/v1/users",
                    headers=rec.headers,
                    data={"username": "bench-memory"},
                    files=[("images", ("e.jpg", frames.jpeg_bytes(frames.frame((640, 480)))))],
                ).raise_for_status()
            pids = {"recognizer": rec.proc.pid, "ui": ui.proc.pid, "database": db.proc.pid}
            marks: dict[str, float] = {}
            with RssSampler(pids, interval_s=0.25) as sampler:
                t0 = sampler._t0
                time.sleep(1.0 if args.tiny else 3.0)
                idle = {k: mib(v[-1][1]) if v else None for k, v in sampler.samples.items()}
                if n_browsers and not B.available():
                    browsers_note = "Chromium not installed: no browser sessions (HTTP load only)"
                    n_browsers = 0
                if n_browsers:
                    video = media.write_y4m(test_faces().grace_hopper(), tmp / "hopper.y4m")
                    marks["browsers start"] = time.monotonic() - t0
                    for i in range(n_browsers):
                        d = B.start(video, tmp / f"profile{i}")
                        drivers.append(d)
                        d.get(ui.url)
                        B.wait_text(d, "Log in with your face", timeout=60)
                        B.click_camera_button(d, "START", timeout=60)
                    time.sleep(3.0)
                    frames_seen = [B.frames_received(d) for d in drivers]
                else:
                    frames_seen = []
                marks["HTTP load"] = time.monotonic() - t0
                log(f"HTTP load: {cores} clients for {seconds:.0f} s; {browsers_note}")
                res = run_load(rec.url, probe, "bench-memory", cores, seconds).summary()
                if drivers:
                    frames_seen = [B.frames_received(d) for d in drivers]
                for d in drivers:
                    d.quit()
                drivers.clear()
            peaks = sampler.peaks()
            hwm = {k: mib(peak_rss_kb(p)) for k, p in pids.items()}
    rec_peak = max(x for x in (peaks["recognizer"]["peak_sampled_mib"], hwm["recognizer"]) if x is not None)
    rec_peak_mb = round(rec_peak * 2**20 / 1e6, 1)
    args.out.mkdir(parents=True, exist_ok=True)
    plot(sampler, marks, args.out / "memory.png")
    result: dict[str, Any] = {
        "tiny": args.tiny,
        "setup": {
            "http_clients": cores,
            "seconds": seconds,
            "browsers": browsers_note,
            "frames_received_by_ui_per_browser": frames_seen,
            "ui_video": "generated 640x480 Y4M of grace_hopper (not enrolled): the ui keeps trying",
        },
        "idle_mib": idle,
        "under_load": peaks,
        "vm_hwm_mib": hwm,
        "http_load": res,
        "recognizer_peak_mb": rec_peak_mb,
        "target_recognizer_mb": TARGET_RECOGNIZER_MB,
        "meets_target": rec_peak_mb < TARGET_RECOGNIZER_MB,
        "plots": ["memory.png"],
        "elapsed_s": round(time.time() - started, 1),
    }
    write_result(args.out, "memory", result)
    print(
        f"\npeak RSS: recognizer {rec_peak_mb} MB (target < {TARGET_RECOGNIZER_MB}), ui "
        f"{peaks['ui']['peak_sampled_mib']} MiB, database {peaks['database']['peak_sampled_mib']} MiB; "
        f"HTTP errors {res['errors']}"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
