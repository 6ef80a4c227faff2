"""Soak: concurrent clients doing a mixed enrol / 1:1 login / 1:N identify load on the real DB.

`make test` runs it for FACEFLEET_SOAK_S=20 s by default; `make soak` for 300 s. Same code.
Reports throughput, latency percentiles, error count (target 0) and the server's resident
memory after warm-up (target: flat), and proves every acknowledged enrolment is stored.
"""

from __future__ import annotations

import os

from reliability_load import LoadRun, write_report

SOAK_S = float(os.environ.get("FACEFLEET_SOAK_S", "0")) or 20.0
CLIENTS = int(os.environ.get("FACEFLEET_SOAK_CLIENTS", "8"))
LONG = SOAK_S >= 120
#: memory samples before this are warm-up (allocator arenas, first model calls, index growth start).
WARMUP_S = 60.0 if LONG else 5.0
#: resident memory may grow this much after warm-up (the index itself grows ~0.5 kB per enrolled face).
MAX_RSS_GROWTH_MB = 64.0
#: no request may take longer than this (queueing for the 2 model threads included): a hang fails.
MAX_LATENCY_S = 60.0


def test_soak_mixed_load(own_recognizer, database_server):
    rec = own_recognizer
    load = LoadRun(
        rec.url,
        rec.api_key,
        clients=CLIENTS,
        duration_s=SOAK_S,
        timeout_s=MAX_LATENCY_S,
        prefix="soak",
        server_pid=rec.proc.pid,
    ).run()
    summary = load.summary(warmup_s=WARMUP_S)
    with database_server.client() as m:
        stored = {d["username"]: d["faces"] for d in m[rec.db_name]["users"].find({}, {"username": 1, "faces": 1})}
    lost = sorted(u for u, n in load.acked.items() if stored.get(u) != n)
    errors = [o for o in load.outcomes if o.status not in (200, 201)]
    rss = summary["rss_mb"]
    growth = (rss["last"] - rss["after_warmup"]) if rss["last"] is not None else 0.0
    report = {
        **summary,
        "errors": len(errors),
        "lost": len(lost),
        "rss_growth_after_warmup_mb": round(growth, 1),
        "warmup_s": WARMUP_S,
        "duration_target_s": SOAK_S,
        "machine_load_average_1_5_15": [round(x, 1) for x in os.getloadavg()],
        "cpus": os.cpu_count(),
    }
    path = write_report("soak_long" if LONG else "soak", report)
    print(
        f"\nsoak: {CLIENTS} clients, {summary['seconds']} s, {summary['requests']} requests, "
        f"{summary['throughput_rps']} req/s, p50 {summary['p50_s']} s, p99 {summary['p99_s']} s, "
        f"errors {len(errors)}, lost {len(lost)}, RSS {rss['after_warmup']} -> {rss['last']} MB "
        f"(max {rss['max']}) ({path})"
    )

    assert summary["requests"] >= CLIENTS, "the load never ran"
    assert not errors, f"errors under load: {errors[:10]}"
    assert not lost, f"acknowledged enrolments missing: {lost}"
    assert summary["max_s"] <= MAX_LATENCY_S
    assert growth <= MAX_RSS_GROWTH_MB, f"resident memory grew {growth:.1f} MB after warm-up"
