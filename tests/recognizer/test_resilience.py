"""Restarts and outages with a database and recognizers of their own (not the shared session ones)."""

from __future__ import annotations

import time

import httpx
import pytest

from facefleet_testing.recognizer_api import assert_error, enrol, login, new_username
from facefleet_testing.stack import DatabaseServer, RecognizerServer

pytestmark = pytest.mark.slow  # own servers, restarts or timers: tens of seconds


@pytest.fixture()
def stack(tmp_path):
    with (
        DatabaseServer.start_new(tmp_path / "db") as db,
        RecognizerServer.start_new(db.url, tmp_path / "rec", {"FACEFLEET_DB_TIMEOUT_MS": "1000"}) as rec,
    ):
        yield db, rec


def test_users_survive_a_service_and_a_database_restart(stack):
    db, rec = stack
    name = new_username("persist")
    with rec.client() as c:
        assert enrol(c, rec, name, "astronaut").status_code == 201
    rec.restart()
    with rec.client() as c:
        assert login(c, "astronaut2", name).status_code == 200
        assert login(c, "astronaut2").json()["username"] == name  # the 1:N index was loaded from the DB
    db.stop()
    db.start()
    rec.wait(ready=True, timeout_s=30)
    with rec.client() as c:
        assert login(c, "astronaut2").json()["username"] == name


def test_database_outage_answers_503_never_500_and_recovers(stack):
    db, rec = stack
    name = new_username("outage")
    with rec.client(timeout=20) as c:
        assert enrol(c, rec, name, "hopper").status_code == 201
        db.stop()
        statuses = []
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:  # poll until /readyz notices (each ping waits <= 2.5 s)
            if c.get("/readyz").status_code == 503:
                break
        assert_error(c.get("/readyz"), 503, "unavailable")
        for call in (
            lambda: c.get("/healthz"),
            lambda: login(c, "hopper2", name),
            lambda: login(c, "hopper2"),
            lambda: login(c, "astronaut"),
            lambda: enrol(c, rec, new_username(), "astronaut"),
            lambda: c.get("/v1/users", headers=rec.headers),
            lambda: c.get(f"/v1/users/{name}", headers=rec.headers),
            lambda: c.delete(f"/v1/users/{name}", headers=rec.headers),
            lambda: c.get("/readyz"),
        ):
            start = time.monotonic()
            r = call()
            assert time.monotonic() - start < 15, "an outage must answer within timeouts, not hang"
            statuses.append(r.status_code)
            if r.status_code != 200:
                assert_error(r, 503, "unavailable")
        assert statuses[0] == 200  # /healthz: the process lives
        assert 500 not in statuses and statuses.count(503) == len(statuses) - 1

        db.start()
        rec.wait(ready=True, timeout_s=30)  # recovers by itself
        assert login(c, "hopper2", name).status_code == 200
        metrics = c.get("/metrics").text
        assert 'outcome="unavailable"' in metrics and 'status="500"' not in metrics


def test_replicas_follow_each_others_changes(stack, tmp_path):
    db, a = stack
    with RecognizerServer(mongo_url=db.url, workdir=tmp_path / "b", env=dict(a.env)) as b:
        b.start()
        name = new_username("replica")
        with a.client() as ca, b.client() as cb:
            assert enrol(ca, a, name, "hopper").status_code == 201
            assert _eventually(lambda: login(cb, "hopper2").status_code == 200), "B never saw A's enrolment"
            assert login(cb, "hopper2").json()["username"] == name
            assert ca.delete(f"/v1/users/{name}", headers=a.headers).status_code == 204
            # Even before B's index refreshes, B sees the counter moved and asks the database.
            assert_error(login(cb, "hopper2"), 401, "no_match")
            assert_error(login(cb, "hopper2", name), 401, "no_match")
            assert _eventually(lambda: cb.get("/readyz").json()["embeddings"] == 0)


def _eventually(check, timeout_s: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            if check():
                return True
        except httpx.HTTPError:
            pass
        time.sleep(0.3)
    return False
