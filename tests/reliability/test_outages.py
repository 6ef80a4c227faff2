"""Outages under load: the database killed (SIGKILL) and restarted while clients enrol and log in,
and the recognizer killed in the middle of enrolments.

Proves: /readyz goes 503 and comes back by itself; every answer during the outage is a 503
`unavailable` with a detail (never a 500, never slower than the bound below); every enrolment
that was acknowledged (201) is present afterwards with all its faces; a killed recognizer
leaves no half-written user. Counts (sent, acknowledged, lost) go to
test-artifacts/reliability/*.json and the test output.
"""

from __future__ import annotations

import os
import threading
import time

import httpx
import pytest
from reliability_load import LoadRun, write_report

from facefleet_testing.recognizer_api import img, new_username
from facefleet_testing.stack import DatabaseServer, RecognizerServer

SOAK_S = float(os.environ.get("FACEFLEET_SOAK_S", "0"))
DB_TIMEOUT_MS = 1000
#: longest acceptable answer during the outage: a few DB timeouts plus embedding on a busy CPU.
MAX_ANSWER_S = 12.0
OUTAGE_S = 6.0


@pytest.fixture()
def stack(tmp_path):
    with (
        DatabaseServer.start_new(tmp_path / "db") as db,
        RecognizerServer.start_new(db.url, tmp_path / "rec", {"FACEFLEET_DB_TIMEOUT_MS": str(DB_TIMEOUT_MS)}) as rec,
    ):
        yield db, rec


def _stored_faces(db: DatabaseServer, rec: RecognizerServer) -> dict[str, int]:
    with db.client() as m:
        return {d["username"]: d["faces"] for d in m[rec.db_name]["users"].find({}, {"username": 1, "faces": 1})}


def _poll_ready(url: str, stop: threading.Event, seen: list[tuple[float, int]]) -> None:
    t0 = time.monotonic()
    with httpx.Client(base_url=url, timeout=5) as c:
        while not stop.is_set():
            try:
                seen.append((time.monotonic() - t0, c.get("/readyz").status_code))
            except httpx.HTTPError:
                seen.append((time.monotonic() - t0, 0))
            stop.wait(0.25)


def test_database_killed_during_a_stream_of_logins_and_enrolments(stack):
    db, rec = stack
    outages = 2 if SOAK_S else 1
    duration = 8 + outages * (OUTAGE_S + 12)
    load = LoadRun(
        rec.url,
        rec.api_key,
        clients=3,
        duration_s=duration,
        timeout_s=MAX_ANSWER_S + 8,
        mix={"enrol": 0.4, "login": 0.3, "identify": 0.3},
        prefix="outage",
        server_pid=rec.proc.pid,
    )
    ready: list[tuple[float, int]] = []
    windows: list[tuple[float, float]] = []  # (killed, restarted) in seconds since the load started
    stop = threading.Event()
    poller = threading.Thread(target=_poll_ready, args=(rec.url, stop, ready), daemon=True)

    def kill_and_restart(run: LoadRun) -> None:
        t0 = time.monotonic()
        poller.start()
        for _ in range(outages):
            time.sleep(6)
            killed = time.monotonic() - t0
            db.proc.kill()  # SIGKILL: no clean shutdown
            db.proc.wait(timeout=10)
            time.sleep(OUTAGE_S)
            db.start()
            windows.append((killed, time.monotonic() - t0))
            rec.wait(ready=True, timeout_s=30)  # recovers by itself, nobody restarts the recognizer
            time.sleep(4)

    try:
        load.run(during=kill_and_restart)
    finally:
        stop.set()
        poller.join(timeout=10)

    outcomes = load.outcomes
    stored = _stored_faces(db, rec)
    lost = sorted(u for u, faces in load.acked.items() if stored.get(u) != faces)
    in_outage = [o for o in outcomes if any(k - 0.5 <= o.at + o.seconds and o.at <= r + 3 for k, r in windows)]
    after = [o for o in outcomes if o.at > windows[-1][1] + 5]
    report = {
        "sent": len(outcomes),
        "acknowledged_enrolments": len(load.acked),
        "lost": len(lost),
        "lost_users": lost,
        "stored_users": len(stored),
        "stored_unacknowledged": len(set(stored) - set(load.acked)),
        "outages": [{"killed_s": round(k, 1), "restarted_s": round(r, 1)} for k, r in windows],
        "summary": load.summary(),
        "during_outage": {
            "n": len(in_outage),
            "statuses": sorted({o.status for o in in_outage}),
            "max_s": round(max((o.seconds for o in in_outage), default=0), 2),
        },
        "readyz": {
            "503": sum(s == 503 for _, s in ready),
            "200": sum(s == 200 for _, s in ready),
            "other": sorted({s for _, s in ready} - {200, 503}),
        },
    }
    path = write_report("db_outage" + ("_long" if SOAK_S else ""), report)
    print(f"\ndb outage: sent {report['sent']}, acked enrolments {len(load.acked)}, lost {len(lost)} ({path})")

    assert not lost, f"acknowledged enrolments missing after recovery: {lost}"
    bad = [o for o in outcomes if o.status not in (200, 201, 503)]
    assert not bad, f"unexpected answers (never 500, never a hang): {bad[:10]}"
    assert all(o.code == "unavailable" for o in outcomes if o.status == 503)
    assert max(o.seconds for o in outcomes) <= MAX_ANSWER_S, "an answer took longer than the bound"
    assert any(o.status == 503 for o in in_outage), "the outage was never noticed by a request"
    assert report["readyz"]["503"] > 0 and ready[-1][1] == 200 and not report["readyz"]["other"]
    assert after and all(o.status in (200, 201) for o in after), "not recovered after the outage"
    with rec.client() as c:  # acknowledged users are usable, not just present
        for name in sorted(load.acked)[:3]:
            assert c.get(f"/v1/users/{name}", headers=rec.headers).json()["faces"] == load.acked[name]
        # Every stored face (acknowledged or not) is in the 1:N index again, so 1:N sees what the DB has.
        deadline = time.monotonic() + 15
        while c.get("/readyz").json().get("embeddings") != sum(stored.values()) and time.monotonic() < deadline:
            time.sleep(0.5)
        assert c.get("/readyz").json()["embeddings"] == sum(stored.values()), "the 1:N index missed stored faces"


def _enrol_many(rec: RecognizerServer, name: str, n: int, results: dict[str, int]) -> None:
    files = [("images", (f"{i}.jpg", img("astronaut" if i % 2 else "astronaut2"))) for i in range(n)]
    try:
        r = httpx.post(rec.url + "/v1/users", headers=rec.headers, data={"username": name}, files=files, timeout=180)
        results[name] = r.status_code
    except httpx.HTTPError:
        results[name] = 0  # the server died under it


def _add_faces(rec: RecognizerServer, name: str, n: int, results: dict[str, int]) -> None:
    files = [("images", (f"{i}.jpg", img("hopper2"))) for i in range(n)]
    try:
        r = httpx.post(f"{rec.url}/v1/users/{name}/faces", headers=rec.headers, files=files, timeout=180)
        results[name] = r.status_code
    except httpx.HTTPError:
        results[name] = 0


@pytest.mark.parametrize("when", ["while_embedding", "after_first_ack"])
def test_recognizer_killed_mid_enrolment_leaves_no_half_written_user(database_server, tmp_path, when):
    """SIGKILL while 2 enrolments of 4 faces and one addition of 3 faces are in flight."""
    faces, added = 4, 3
    with RecognizerServer.start_new(database_server.url, tmp_path / "rec") as rec:
        existing = new_username("grow")
        with rec.client() as c:
            assert (
                c.post(
                    "/v1/users",
                    headers=rec.headers,
                    data={"username": existing},
                    files=[("images", ("h.jpg", img("hopper")))],
                ).status_code
                == 201
            )
        names = [new_username("kill") for _ in range(2)]
        results: dict[str, int] = {}
        threads = [threading.Thread(target=_enrol_many, args=(rec, n, faces, results)) for n in names]
        threads.append(threading.Thread(target=_add_faces, args=(rec, existing, added, results)))
        for t in threads:
            t.start()
        deadline = time.monotonic() + 150
        if when == "while_embedding":
            time.sleep(1.5)
        else:
            while not results and time.monotonic() < deadline:
                time.sleep(0.01)
        acked_before_kill = dict(results)
        rec.proc.kill()
        rec.proc.wait(timeout=10)
        for t in threads:
            t.join(timeout=190)
        if when == "after_first_ack":
            assert any(s in (200, 201) for s in acked_before_kill.values()), f"no answer before the kill: {results}"
        rec.start()  # same settings and keys: what was stored is readable

        with database_server.client() as m:
            stored = {d["username"]: d["faces"] for d in m[rec.db_name]["users"].find({}, {"username": 1, "faces": 1})}
        with rec.client() as c:
            for name in names:
                assert stored.get(name) in (None, faces), f"half-written user {name}: {stored.get(name)} faces"
                if results[name] == 201:
                    assert stored.get(name) == faces, f"acknowledged enrolment {name} lost"
                r = c.get(f"/v1/users/{name}", headers=rec.headers)
                assert r.status_code == (404 if stored.get(name) is None else 200)
            assert stored[existing] in (1, 1 + added), f"half-applied addition: {stored[existing]} faces"
            if results[existing] == 200:
                assert stored[existing] == 1 + added
            for name in stored:  # whatever survived decrypts and logs in
                probe = "hopper2" if name == existing else "astronaut2"
                ok = c.post("/v1/login", data={"username": name}, files={"image": ("p", img(probe))})
                assert ok.status_code == 200, ok.text
        write_report(f"recognizer_kill_{when}", {"results": results, "stored": stored, "faces_per_enrolment": faces})
        print(f"\nrecognizer killed {when}: answers {results}, stored {stored}")
