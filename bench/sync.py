"""Fleet-wide users: propagation, catch-up after an outage, the idle cost, consistency (issue 11).

Two real sites (facefleet_testing.sites: two FerretDB servers, a home recognizer and a replica,
the replica with the production poll interval, FACEFLEET_SYNC_INTERVAL_S=2):
1. propagation: enrol a user at the home (the 201 is the commit), poll the replica for the user
   every 50 ms, then log in there (1:1); the time until that login succeeded, p50/p95. Baseline: the poll
   interval itself (the floor of a pull protocol).
2. idle cost: no changes for a minute; requests and bytes the replica received, from its metrics.
3. catch-up: the replica's uplink is cut (the home recognizer stopped) while N changes happen at the
   home (users imported through the storage layer, as the identify benchmark seeds them); then the
   home comes back and the time until the replica holds exactly the home's users is measured,
   with the bytes it received. For each N, both strategies side by side: replaying the changes
   (FACEFLEET_SYNC_COPY_BEYOND above N) and a full copy (FACEFLEET_SYNC_COPY_BEYOND=0), as a ratio.
4. consistency: after every phase the replica's users are compared with the home's, byte for byte.
Goals (issue 11): propagation p95 <= 5 s; 10,000 changes caught up in <= 30 s; one small request per poll.
"""

from __future__ import annotations

import re
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
import numpy as np

from bench.harness import log, parser, pctl, ratio, write_result
from facefleet_testing.recognizer_api import img
from facefleet_testing.sites import FleetSites

INTERVAL_S = 2.0


def _metric(text: str, name: str, labels: str = "") -> float:
    m = re.search(rf"^{re.escape(name + labels)} ([0-9.e+-]+|inf|nan)$", text, re.M)
    return float(m.group(1)) if m else float("nan")


def edge_counters(fleet: FleetSites) -> dict[str, float]:
    text = httpx.get(fleet.edge.url + "/metrics", timeout=10).text
    return {
        "requests": _metric(text, "facefleet_sync_requests_total", '{outcome="ok"}'),
        "bytes": _metric(text, "facefleet_sync_received_bytes_total"),
    }


def consistency(fleet: FleetSites, phase: str) -> dict[str, Any]:
    home, edge = fleet.home_users(), fleet.edge_users()
    row = {
        "phase": phase,
        "users": len(home),
        "missing": len(home.keys() - edge.keys()),
        "extra": len(edge.keys() - home.keys()),
        "differ": sum(1 for u in home.keys() & edge.keys() if home[u] != edge[u]),
        "resurrected": len(fleet.deleted & edge.keys()),
    }
    row["consistent"] = not (row["missing"] or row["extra"] or row["differ"] or row["resurrected"])
    log(f"consistency after {phase}: {row}")
    return row


def propagation(fleet: FleetSites, n: int) -> dict[str, Any]:
    seconds = []
    with fleet.home.client() as home, fleet.edge.client() as edge:
        for i in range(n):
            name = f"prop-{i:03d}"
            r = home.post(
                "/v1/users", headers=fleet.home.headers, data={"username": name}, files=[("images", img("astronaut"))]
            )
            assert r.status_code == 201, r.text
            committed = time.perf_counter()
            # Poll the user, not logins: failed logins would lock the name out (5 in 5 minutes).
            while edge.get(f"/v1/users/{name}", headers=fleet.edge.headers).status_code != 200:
                time.sleep(0.05)
            ok = edge.post("/v1/login", data={"username": name}, files={"image": img("astronaut2")})
            assert ok.status_code == 200, ok.text
            seconds.append(time.perf_counter() - committed)
            time.sleep(np_rng.uniform(0, INTERVAL_S))  # enrolments arrive at any point of the poll cycle
    return {
        "n": n,
        "p50_s": round(pctl(seconds, 50), 3),
        "p95_s": round(pctl(seconds, 95), 3),
        "max_s": round(max(seconds), 3),
        "poll_interval_s": INTERVAL_S,
        "p95_over_interval": ratio(pctl(seconds, 95), INTERVAL_S),
        "goal_p95_s": 5.0,
    }


def idle_cost(fleet: FleetSites, seconds: float) -> dict[str, Any]:
    fleet.wait_synced()
    before = edge_counters(fleet)
    time.sleep(seconds)
    after = edge_counters(fleet)
    per_min = 60.0 / seconds
    requests = (after["requests"] - before["requests"]) * per_min
    received = (after["bytes"] - before["bytes"]) * per_min
    return {
        "seconds": seconds,
        "requests_per_min": round(requests, 1),
        "bytes_received_per_min": round(received, 0),
        "bytes_per_request": round(received / requests, 1) if requests else None,
        "expected_requests_per_min": 60.0 / INTERVAL_S,
    }


def catch_up(fleet: FleetSites, n: int, strategy: str, seed: int) -> dict[str, Any]:
    """Cut the uplink, make n changes at the home, restore it; seconds until the replica equals the home."""
    fleet.wait_synced(timeout_s=120)
    fleet.edge.env["FACEFLEET_SYNC_COPY_BEYOND"] = str(n + 1 if strategy == "replay" else 0)
    fleet.edge.restart()
    fleet.wait_synced(timeout_s=120)
    fleet.home.stop()
    _, target = fleet.seed_home(n, f"s{seed}", seed=seed)
    before = edge_counters(fleet)
    fleet.home.start(wait_ready=False)  # timed from the home's first answer (/healthz)
    back = time.perf_counter()
    with fleet.edge_db.client() as c:
        state = c[fleet.edge.db_name]["replica_state"]
        while int((state.find_one({"_id": "sync"}) or {}).get("cursor") or 0) < target:
            assert time.perf_counter() - back < 600, "no catch-up within 10 minutes"
            time.sleep(0.05)
    seconds = time.perf_counter() - back
    fleet.home.wait(ready=True)
    after = edge_counters(fleet)
    row = {
        "changes": n,
        "strategy": strategy,
        "seconds": round(seconds, 2),
        "bytes_received": int(after["bytes"] - before["bytes"]),
        "users_after": len(fleet.home_users()),
    }
    log(f"catch-up: {row}")
    return row


np_rng = np.random.default_rng(11)


def main() -> None:
    ap = parser(__doc__)
    ap.add_argument("--enrolments", type=int, default=30, help="propagation samples")
    ap.add_argument("--idle-s", type=float, default=60.0)
    ap.add_argument("--changes", default="1000,10000", help="catch-up sizes")
    args = ap.parse_args()
    if args.tiny:
        args.enrolments, args.idle_s, args.changes = 3, 5.0, "50"
    sizes = [int(x) for x in args.changes.split(",") if x]
    with tempfile.TemporaryDirectory() as tmp:
        edge_env = {"FACEFLEET_SYNC_INTERVAL_S": str(INTERVAL_S)}
        with FleetSites.start(Path(tmp), edge_env=edge_env) as fleet:
            checks = [consistency(fleet, "start")]
            prop = propagation(fleet, args.enrolments)
            log(f"propagation: {prop}")
            fleet.wait_synced()
            checks.append(consistency(fleet, "propagation"))
            idle = idle_cost(fleet, args.idle_s)
            log(f"idle: {idle}")
            rows = []
            for k, n in enumerate(sizes):
                pair = []
                for j, strategy in enumerate(("replay", "copy")):
                    pair.append(catch_up(fleet, n, strategy, seed=100 * k + j))
                    checks.append(consistency(fleet, f"catch-up {n} ({strategy})"))
                replay, copy = pair
                rows.append(
                    {
                        "changes": n,
                        "replay": replay,
                        "copy": copy,
                        "replay_over_copy": ratio(replay["seconds"], copy["seconds"]),
                        "chosen": "copy" if n > 1000 else "replay",
                    }
                )
    write_result(
        args.out,
        "sync",
        {
            "tiny": args.tiny,
            "plots": [],
            "propagation": prop,
            "idle": idle,
            "catch_up": rows,
            "consistency": checks,
            "goals": {"propagation_p95_s": 5.0, "catch_up_10000_s": 30.0},
        },
    )


if __name__ == "__main__":
    main()
