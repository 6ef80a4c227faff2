"""Fleet-wide users on real parts: two database servers, a home recognizer and a replica (edge-1).

Every test ends with the consistency check (facefleet_testing.sites): the replica's users and
faces equal the home's, byte for byte, nothing lost and nothing deleted come back.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from facefleet_testing.recognizer_api import assert_error, enrol, img, login, new_username
from facefleet_testing.sites import FleetSites, issue_credential

pytestmark = pytest.mark.slow


def eventually(check, timeout_s: float = 10.0, every_s: float = 0.1):
    """The first truthy result of `check()` within the timeout, else the assertion of its last result."""
    deadline = time.monotonic() + timeout_s
    while True:
        result = check()
        if result or time.monotonic() > deadline:
            assert result, f"not within {timeout_s} s: {result!r}"
            return result
        time.sleep(every_s)


def login_once_arrived(fleet: FleetSites, edge: httpx.Client, image: str, name: str, timeout_s: float = 5.0):
    """Wait until the user has arrived at the replica (polling logins would lock the name out), then log in."""
    eventually(lambda: edge.get(f"/v1/users/{name}", headers=fleet.edge.headers).status_code == 200, timeout_s)
    r = login(edge, image, name)
    assert r.status_code == 200, r.text
    return r


@pytest.fixture(scope="module")
def fleet(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FleetSites]:
    """One home and one replica for the tests that neither stop nor restart anything."""
    with FleetSites.start(tmp_path_factory.mktemp("fleet")) as f:
        yield f
        f.wait_synced()


@pytest.fixture()
def home(fleet: FleetSites) -> Iterator[httpx.Client]:
    with fleet.home.client() as c:
        yield c


@pytest.fixture()
def edge(fleet: FleetSites) -> Iterator[httpx.Client]:
    with fleet.edge.client() as c:
        yield c


# -- propagation --------------------------------------------------------------------------------
def test_enrolment_added_faces_and_deletion_at_the_home_reach_the_replica(fleet, home, edge) -> None:
    name = new_username("alice")
    assert enrol(home, fleet.home, name, "astronaut").status_code == 201
    login_once_arrived(fleet, edge, "astronaut2", name, timeout_s=5)
    assert login(edge, "astronaut2").json()["username"] == name  # 1:N too
    got = edge.get(f"/v1/users/{name}", headers=fleet.edge.headers)
    assert got.status_code == 200 and got.json()["faces"] == 1

    files = [("images", ("b.jpg", img("astronaut3")))]
    assert home.post(f"/v1/users/{name}/faces", headers=fleet.home.headers, files=files).status_code == 200
    eventually(lambda: edge.get(f"/v1/users/{name}", headers=fleet.edge.headers).json()["faces"] == 2)

    assert home.delete(f"/v1/users/{name}", headers=fleet.home.headers).status_code == 204
    fleet.deleted.add(name)
    eventually(lambda: edge.get(f"/v1/users/{name}", headers=fleet.edge.headers).status_code == 404, timeout_s=5)
    assert_error(login(edge, "astronaut2", name), 401, "no_match")
    fleet.wait_synced()


def test_writes_at_the_replica_are_committed_at_the_home(fleet, home, edge) -> None:
    name = new_username("grace")
    r = enrol(edge, fleet.edge, name, "hopper")
    assert r.status_code == 201 and r.json() == {"username": name, "faces": 1}
    # The replica answered after pulling its own write: a login there works at once.
    ok = login(edge, "hopper2", name)
    assert ok.status_code == 200, ok.text
    assert home.get(f"/v1/users/{name}", headers=fleet.home.headers).status_code == 200
    assert_error(enrol(edge, fleet.edge, name, "hopper"), 409, "user_exists")  # the home's answer, passed on
    assert_error(enrol(edge, fleet.edge, new_username(), "no_face"), 422, "no_face")

    files = [("images", ("b.jpg", img("hopper")))]
    r = edge.post(f"/v1/users/{name}/faces", headers=fleet.edge.headers, files=files)
    assert r.status_code == 200 and r.json()["faces"] == 2
    assert edge.get(f"/v1/users/{name}", headers=fleet.edge.headers).json()["faces"] == 2

    # The token holder deletes themselves at the replica: gone at the home and here.
    token = ok.json()["token"]
    assert edge.delete("/v1/me", headers={"Authorization": f"Bearer {token}"}).status_code == 204
    fleet.deleted.add(name)
    assert home.get(f"/v1/users/{name}", headers=fleet.home.headers).status_code == 404
    assert edge.get(f"/v1/users/{name}", headers=fleet.edge.headers).status_code == 404
    fleet.wait_synced()


def test_a_replica_checks_its_own_callers_before_forwarding(fleet, edge) -> None:
    before = fleet.home_users()
    name = new_username()
    files = [("images", ("a.jpg", img("astronaut")))]
    assert_error(edge.post("/v1/users", data={"username": name}, files=files), 401, "unauthorized")
    home_key = {"X-API-Key": fleet.home.api_key}  # another site's key is not this site's
    assert_error(edge.post("/v1/users", headers=home_key, data={"username": name}, files=files), 401, "unauthorized")
    assert_error(edge.delete("/v1/users/whoever"), 401, "unauthorized")
    assert fleet.home_users() == before


def test_audit_lockouts_and_tokens_stay_per_site(fleet, home, edge) -> None:
    name = new_username("alice")
    assert enrol(home, fleet.home, name, "astronaut").status_code == 201
    token = login_once_arrived(fleet, edge, "astronaut2", name).json()["token"]
    auth = {"Authorization": f"Bearer {token}"}
    assert edge.get("/v1/me", headers=auth).status_code == 200
    assert_error(home.get("/v1/me", headers=auth), 401, "unauthorized")  # signed by the edge's secret
    attempts = edge.get("/v1/me/attempts", headers=auth).json()["attempts"]
    assert [a["result"] for a in attempts] == ["success"]
    home_token = login(home, "astronaut2", name).json()["token"]
    home_attempts = home.get("/v1/me/attempts", headers={"Authorization": f"Bearer {home_token}"}).json()
    assert [a["result"] for a in home_attempts["attempts"]] == ["success"]  # the edge's attempt is not here
    for _ in range(5):
        login(edge, "hopper", name)
    assert_error(login(edge, "astronaut2", name), 429, "locked_out")
    assert login(home, "astronaut2", name).status_code == 200  # the lock is the edge's alone
    assert home.delete(f"/v1/users/{name}", headers=fleet.home.headers).status_code == 204
    fleet.deleted.add(name)
    fleet.wait_synced()


# -- the protocol's own checks --------------------------------------------------------------------
def test_the_sync_routes_need_a_valid_site_credential(fleet, home, edge) -> None:
    assert_error(home.get("/v1/sync/changes", params={"after": 0}), 401, "unauthorized")
    wrong = {"Authorization": "Bearer ffs1.edge-1.not-the-secret"}
    assert_error(home.get("/v1/sync/changes", params={"after": 0}, headers=wrong), 401, "unauthorized")
    assert_error(home.get("/v1/sync/snapshot", headers=wrong), 401, "unauthorized")
    good = {"Authorization": f"Bearer {fleet.credential}"}
    page = home.get("/v1/sync/changes", params={"after": 0, "limit": 2}, headers=good)
    assert page.status_code == 200 and set(page.json()) == {"changes", "next", "head"}
    assert_error(home.get("/v1/sync/changes", params={"after": -1}, headers=good), 422, "missing_field")
    assert_error(home.get("/v1/sync/changes", params={"after": 0, "limit": 5000}, headers=good), 422, "missing_field")
    assert_error(home.put("/v1/sync/sites/edge-9"), 401, "unauthorized")
    assert_error(home.put("/v1/sync/sites/Not_A_Label", headers=fleet.home.headers), 422, "missing_field")
    assert_error(home.delete("/v1/sync/sites/never-issued", headers=fleet.home.headers), 404, "not_found")
    # The credential opens the sync routes only, never the user-admin API.
    files = [("images", ("a.jpg", img("astronaut")))]
    assert_error(home.post("/v1/users", headers=good, data={"username": "x-y-z"}, files=files), 401, "unauthorized")
    assert_error(home.delete("/v1/users/anyone", headers=good), 401, "unauthorized")
    assert_error(home.delete("/v1/sync/users/anyone"), 401, "unauthorized")
    assert_error(home.delete("/v1/sync/users/anyone", headers=good), 404, "not_found")
    # A replica serves no sync routes of its own.
    assert_error(edge.get("/v1/sync/changes", params={"after": 0}, headers=good), 404, "not_found")
    sites = home.get("/v1/sync/sites", headers=fleet.home.headers).json()["sites"]
    mine = next(s for s in sites if s["site"] == fleet.site)
    assert mine["revoked_at"] is None and mine["cursor"] is not None and mine["last_seen_at"]


def test_site_status_and_replica_metrics(fleet, home, edge) -> None:
    assert home.get("/v1/site").json() == {
        "site": "home",
        "role": "home",
        "last_sync_at": None,
        "lag_s": None,
        "changes_behind": None,
        "offline": False,
        "stale": False,
        "max_staleness_s": None,
    }
    status = fleet.site_status()
    assert status["site"] == "edge-1" and status["role"] == "replica"
    assert status["offline"] is False and status["stale"] is False and status["lag_s"] < 5
    assert status["max_staleness_s"] == 86400
    text = edge.get("/metrics").text
    lag = next(line for line in text.splitlines() if line.startswith("facefleet_replica_lag_seconds "))
    assert float(lag.split()[1]) < 5
    assert "facefleet_replica_changes_behind 0.0" in text and "facefleet_replica_offline 0.0" in text
    assert 'facefleet_sync_requests_total{outcome="ok"}' in text
    assert "facefleet_replica_lag_seconds" not in home.get("/metrics").text


# -- outages, restarts, revocation, expiry ---------------------------------------------------------
def test_the_uplink_cut_keeps_logins_and_deletions_seen_before_it(tmp_path: Path) -> None:
    with FleetSites.start(tmp_path) as fleet, fleet.home.client() as home, fleet.edge.client() as edge:
        stays, leaves = new_username("stays"), new_username("leaves")
        assert enrol(home, fleet.home, stays, "astronaut").status_code == 201
        assert enrol(home, fleet.home, leaves, "hopper").status_code == 201
        login_once_arrived(fleet, edge, "hopper2", leaves, timeout_s=5)
        assert home.delete(f"/v1/users/{leaves}", headers=fleet.home.headers).status_code == 204
        fleet.deleted.add(leaves)
        fleet.wait_synced()  # the replica has seen the deletion ...

        fleet.home.stop()  # ... and then the uplink goes
        assert login(edge, "astronaut2", stays).status_code == 200
        assert login(edge, "astronaut2").json()["username"] == stays
        assert_error(login(edge, "hopper2", leaves), 401, "no_match")
        assert_error(login(edge, "hopper2"), 401, "no_match")
        assert_error(enrol(edge, fleet.edge, new_username(), "hopper"), 503, "home_unreachable")
        assert edge.get("/readyz").status_code == 200
        eventually(lambda: fleet.site_status()["offline"], timeout_s=5)

        fleet.edge.restart()  # a replica restarted while cut off serves its copy on
        assert login(edge, "astronaut2", stays).status_code == 200
        assert fleet.site_status()["offline"] is True and fleet.site_status()["stale"] is False

        fleet.home.start()  # the home is back: the replica resumes from its cursor
        late = new_username("late")
        assert enrol(home, fleet.home, late, "hopper").status_code == 201
        login_once_arrived(fleet, edge, "hopper2", late, timeout_s=10)
        assert fleet.site_status()["offline"] is False
        fleet.wait_synced()


def test_past_the_staleness_bound_logins_are_refused_until_the_home_answers(tmp_path: Path) -> None:
    env = {"FACEFLEET_REPLICA_MAX_STALENESS_S": "3"}
    with FleetSites.start(tmp_path, edge_env=env) as fleet, fleet.home.client() as home, fleet.edge.client() as edge:
        name = new_username("alice")
        assert enrol(home, fleet.home, name, "astronaut").status_code == 201
        login_once_arrived(fleet, edge, "astronaut2", name, timeout_s=5)
        fleet.home.stop()
        time.sleep(3.5)
        assert_error(login(edge, "astronaut2", name), 503, "replica_stale")
        assert_error(login(edge, "astronaut2"), 503, "replica_stale")
        assert edge.get("/readyz").status_code == 200
        assert "facefleet_replica_stale 1.0" in edge.get("/metrics").text
        assert fleet.site_status()["stale"] is True
        fleet.home.start()
        eventually(lambda: login(edge, "astronaut2", name).status_code == 200, timeout_s=10)  # 503s, not failures
        fleet.wait_synced()


def test_a_revoked_site_gets_nothing_more(tmp_path: Path) -> None:
    with FleetSites.start(tmp_path) as fleet, fleet.home.client() as home, fleet.edge.client() as edge:
        before = new_username("before")
        assert enrol(home, fleet.home, before, "astronaut").status_code == 201
        fleet.wait_synced()
        assert home.delete(f"/v1/sync/sites/{fleet.site}", headers=fleet.home.headers).status_code == 204
        after = new_username("after")
        assert enrol(home, fleet.home, after, "hopper").status_code == 201
        eventually(lambda: fleet.site_status()["offline"], timeout_s=5)
        time.sleep(1.5)  # three more polls
        assert after not in fleet.edge_users()
        assert 'facefleet_sync_requests_total{outcome="unauthorized"}' in edge.get("/metrics").text
        assert_error(enrol(edge, fleet.edge, new_username(), "hopper"), 503, "home_unreachable")
        direct = {"Authorization": f"Bearer {fleet.credential}"}
        assert_error(home.get("/v1/sync/snapshot", headers=direct), 401, "unauthorized")
        assert login(edge, "astronaut2", before).status_code == 200  # what it has stays usable

        # A new credential, given to the replica, lets it catch up.
        fleet.edge.env["FACEFLEET_SYNC_CREDENTIAL"] = issue_credential(fleet.home, fleet.site)
        fleet.edge.restart()
        login_once_arrived(fleet, edge, "hopper2", after, timeout_s=10)
        fleet.wait_synced()


def test_a_cursor_older_than_the_home_keeps_means_a_full_copy(tmp_path: Path) -> None:
    with FleetSites.start(tmp_path) as fleet, fleet.home.client() as home, fleet.edge.client() as edge:
        gone, kept = new_username("gone"), new_username("kept")
        assert enrol(home, fleet.home, gone, "astronaut").status_code == 201
        assert enrol(home, fleet.home, kept, "hopper").status_code == 201
        fleet.wait_synced()
        fleet.edge.stop()
        assert home.delete(f"/v1/users/{gone}", headers=fleet.home.headers).status_code == 204
        fleet.deleted.add(gone)
        new = new_username("new")
        assert enrol(home, fleet.home, new, "astronaut").status_code == 201
        repo = fleet.home_repository()
        try:  # every change, the deletion included, is older than the retention now
            repo.changelog.changes.update_many({}, {"$set": {"at": repo.changelog._now().replace(year=2000)}})
            assert repo.changelog.trim(3600) > 0
        finally:
            repo.close()
        fleet.edge.start()
        login_once_arrived(fleet, edge, "astronaut2", new, timeout_s=10)
        assert_error(login(edge, "hopper2", gone), 401, "no_match")
        assert edge.get(f"/v1/users/{gone}", headers=fleet.edge.headers).status_code == 404
        assert "full copy" in fleet.edge.log_path.read_text()
        fleet.wait_synced()


def test_a_first_copy_of_10000_users_survives_a_crash_midway(tmp_path: Path) -> None:
    """10,000 synthetic users seeded through the storage layer; the replica is killed during its copy."""
    n = 10_000
    with FleetSites.start(tmp_path) as fleet:
        assert fleet.seed_home(n, "synthetic", seed=3)[0] == n
        # A replica that has never synced: a new database, a new site.
        fleet.edge.stop()
        fleet.edge_db.stop()
        fleet.edge_db.data_dir = tmp_path / "edge-db-2"
        fleet.edge_db.start()
        fleet.edge.env["FACEFLEET_SYNC_CREDENTIAL"] = issue_credential(fleet.home, "edge-2")
        fleet.edge.env["FACEFLEET_SITE"] = "edge-2"
        fleet.edge.start(wait_ready=False)
        with fleet.edge.client() as edge:
            # The copy is staged apart from the live users (users_copy) and swapped in when complete.
            eventually(lambda: 0 < fleet.edge_count("users_copy") < n, timeout_s=60, every_s=0.05)
            assert fleet.edge_count() == 0
            status = fleet.site_status()
            assert status["stale"] is True and status["last_sync_at"] is None
            assert_error(login(edge, "astronaut"), 503, "replica_stale")  # never a half-copied answer
            assert fleet.edge.proc is not None
            os.kill(fleet.edge.proc.pid, signal.SIGKILL)  # a crash in the middle of the copy
            fleet.edge.proc.wait()
            fleet.edge.start()
            start = time.monotonic()
            eventually(lambda: fleet.site_status()["stale"] is False, timeout_s=120, every_s=0.2)
            seconds = time.monotonic() - start
        assert fleet.edge_count() == n
        fleet.wait_synced(timeout_s=30)
        print(f"first copy of {n} users after a crash: {seconds:.1f} s")


def _rekey(rec) -> subprocess.CompletedProcess[str]:
    cmd = [sys.executable, "-m", "recognizer", "rekey"]
    return subprocess.run(cmd, env=rec.process_env(), cwd=rec.workdir, capture_output=True, text=True, timeout=120)


def test_a_fleet_wide_key_rotation_with_rekey_at_the_home(tmp_path: Path) -> None:
    """New key everywhere (the old one as previous), rekey at the home only, then the old key goes."""
    old, new = "old-fleet-key-0123456789", "new-fleet-key-0123456789"
    key = {"FACEFLEET_EMBEDDING_KEY": old}
    with FleetSites.start(tmp_path, home_env=key, edge_env=key) as fleet, fleet.edge.client() as edge:
        name = new_username("alice")
        with fleet.home.client() as home:
            assert enrol(home, fleet.home, name, "astronaut").status_code == 201
        fleet.wait_synced()
        for rec in (fleet.home, fleet.edge):
            rec.env.update({"FACEFLEET_EMBEDDING_KEY": new, "FACEFLEET_EMBEDDING_KEY_PREVIOUS": old})
            rec.restart()
        refused = _rekey(fleet.edge)
        assert refused.returncode == 2 and "run rekey at the home" in refused.stderr
        done = _rekey(fleet.home)
        assert done.returncode == 0, done.stderr
        assert json.loads(done.stdout.splitlines()[-1])["rekeyed"] == 1
        fleet.wait_synced()  # the re-encrypted blob travelled as it is
        del fleet.edge.env["FACEFLEET_EMBEDDING_KEY_PREVIOUS"]
        fleet.edge.restart()
        assert login(edge, "astronaut2", name).status_code == 200
        fleet.wait_synced()
