"""Repeated failed logins lock a username (429 with Retry-After), then the lock expires."""

from __future__ import annotations

import time

import pytest

from facefleet_testing.recognizer_api import assert_error, db_state, enrol, login, new_username
from facefleet_testing.stack import RecognizerServer

pytestmark = pytest.mark.slow  # own servers, restarts or timers: tens of seconds


LOCK_S = 8  # long enough that the lock outlives a slow embedding on a loaded machine


@pytest.fixture(scope="module")
def rec(database_server, tmp_path_factory):
    """A recognizer with a short lock (the default policy is 5 failures in 5 minutes -> 5 minutes)."""
    with RecognizerServer.start_new(
        database_server.url, tmp_path_factory.mktemp("lockout"), {"FACEFLEET_LOCKOUT_S": str(LOCK_S)}
    ) as server:
        yield server


def test_five_failures_lock_the_username(rec, database_server):
    name = new_username("lock")
    with rec.client() as c:
        assert enrol(c, rec, name, "astronaut").status_code == 201
        for _ in range(5):
            assert_error(login(c, "hopper", name), 401, "no_match")
        users_before = db_state(database_server, rec, users_only=True)

        locked = login(c, "astronaut2", name)  # even the right face is refused while locked
        assert_error(locked, 429, "locked_out")
        retry = int(locked.headers["Retry-After"])
        assert 1 <= retry <= LOCK_S
        assert_error(login(c, "astronaut2"), 429, "locked_out")  # 1:N cannot bypass the lock
        assert db_state(database_server, rec, users_only=True) == users_before

        time.sleep(retry + 0.5)
        ok = login(c, "astronaut2", name)
        assert ok.status_code == 200, ok.text

        token = ok.json()["token"]
        results = [
            a["result"]
            for a in c.get("/v1/me/attempts", headers={"Authorization": f"Bearer {token}"}).json()["attempts"]
        ]
        assert results[:4] == ["success", "locked_out", "locked_out", "no_match"]
        assert results.count("no_match") == 5
        c.delete(f"/v1/users/{name}", headers=rec.headers)


def test_success_resets_the_failure_count(rec):
    name = new_username("reset")
    with rec.client() as c:
        enrol(c, rec, name, "astronaut")
        for _ in range(4):
            assert_error(login(c, "hopper", name), 401, "no_match")
        assert login(c, "astronaut2", name).status_code == 200
        for _ in range(4):
            assert_error(login(c, "hopper", name), 401, "no_match")
        assert login(c, "astronaut2", name).status_code == 200
        c.delete(f"/v1/users/{name}", headers=rec.headers)


def test_unknown_usernames_lock_too(rec):
    """Locking does not reveal whether a username exists."""
    ghost = new_username("ghost")
    with rec.client() as c:
        for _ in range(5):
            assert_error(login(c, "hopper", ghost), 401, "no_match")
        assert_error(login(c, "hopper", ghost), 429, "locked_out")
