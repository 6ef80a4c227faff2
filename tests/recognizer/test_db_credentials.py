"""Database credentials: any password works (they reach the driver apart from MONGO_URL), and the
edge database, started exactly as the chart starts it, refuses clients without the right ones."""

from __future__ import annotations

import time
from pathlib import Path

import httpx
import pytest
from pymongo import MongoClient
from pymongo.errors import OperationFailure

from facefleet_testing.recognizer_api import enrol, new_username
from facefleet_testing.stack import FERRETDB, DatabaseServer, RecognizerServer

# Every character that broke the URL built by $(VAR) expansion, and some more.
PASSWORD = "p@ss:w/rd\"\\ %?#&=+'`$(x)"


def _chart_env(port: int, state: Path) -> dict[str, str]:
    """The FerretDB container's environment from the edge render of apps/database, mapped to this host."""
    from tools.gitops.render import render_worktree

    objs = render_worktree().objects["edge"]["database"]
    sts = next(o for o in objs if o["kind"] == "StatefulSet")
    container = sts["spec"]["template"]["spec"]["containers"][0]
    env = {}
    for item in container["env"]:
        if "value" in item:
            env[item["name"]] = item["value"]
        else:  # the Secret facefleet-database
            key = item["valueFrom"]["secretKeyRef"]["key"]
            env[item["name"]] = {"username": "facefleet", "password": PASSWORD}[key]
    assert env.get("FERRETDB_TEST_ENABLE_NEW_AUTH") == "true" and env["FERRETDB_HANDLER"] == "sqlite"
    return env | {
        "FERRETDB_SQLITE_URL": f"file:{state}/",
        "FERRETDB_STATE_DIR": str(state),
        "FERRETDB_LISTEN_ADDR": f"127.0.0.1:{port}",
        "FERRETDB_DEBUG_ADDR": "-",
        "FERRETDB_LOG_LEVEL": "warn",
    }


@pytest.fixture()
def chart_ferretdb(tmp_path):
    if not FERRETDB.exists():
        pytest.fail("FerretDB missing: run `make database`")
    server = DatabaseServer(data_dir=tmp_path / "state", command=[str(FERRETDB)])
    server.env = _chart_env(server.port, server.data_dir)
    with server:  # DatabaseServer.start waits for a ping, which FerretDB answers without credentials
        server.start()
        yield f"mongodb://127.0.0.1:{server.port}/facefleet?authSource=facefleet"


def test_edge_database_refuses_missing_or_wrong_credentials(chart_ferretdb):
    with MongoClient(chart_ferretdb, serverSelectionTimeoutMS=2000) as anonymous:
        with pytest.raises(OperationFailure) as err:
            anonymous.facefleet.users.insert_one({"x": 1})
        assert err.value.code == 13  # Unauthorized
        with pytest.raises(OperationFailure):
            anonymous.facefleet.users.find_one({})
    with MongoClient(chart_ferretdb, username="facefleet", password="wrong", serverSelectionTimeoutMS=2000) as wrong:
        with pytest.raises(OperationFailure) as err:
            wrong.facefleet.users.find_one({})
        assert err.value.code == 18  # AuthenticationFailed
    with MongoClient(chart_ferretdb, username="facefleet", password=PASSWORD, serverSelectionTimeoutMS=2000) as right:
        right.facefleet.probe.insert_one({"x": 1})
        assert right.facefleet.probe.count_documents({}) == 1


def test_recognizer_logs_in_with_any_password(chart_ferretdb, tmp_path):
    """MONGO_URL without credentials (as the chart sets it) and FACEFLEET_DB_* beside it."""
    creds = {"FACEFLEET_DB_USERNAME": "facefleet", "FACEFLEET_DB_PASSWORD": PASSWORD, "FACEFLEET_MONGO_DB": "facefleet"}
    with RecognizerServer.start_new(chart_ferretdb, tmp_path / "rec", creds) as rec, rec.client() as api:
        name = new_username("anypw")
        assert enrol(api, rec, name, "hopper").status_code == 201
        assert api.get(f"/v1/users/{name}", headers=rec.headers).status_code == 200
    wrong = creds | {"FACEFLEET_DB_PASSWORD": PASSWORD + "x"}
    with RecognizerServer.start_new(chart_ferretdb, tmp_path / "rec-wrong", wrong, wait_ready=False) as rec:
        time.sleep(2)
        ready = httpx.get(rec.url + "/readyz", timeout=5)
        assert ready.status_code == 503, ready.text  # never serves on a database it cannot use
