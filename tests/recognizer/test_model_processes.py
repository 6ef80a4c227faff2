"""The face pipeline in worker processes (FACEFLEET_MODEL_PROCESSES): same answers, and a dead
worker costs one 503, never the server; a killed server leaves no worker behind."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import pytest

from facefleet_testing.recognizer_api import assert_error, enrol, login, new_username
from facefleet_testing.stack import RecognizerServer, process_tree

pytestmark = pytest.mark.slow  # an own server with its own worker processes


def _workers(rec: RecognizerServer) -> list[int]:
    """The face worker processes (not multiprocessing's resource tracker, also a child)."""
    out = []
    for pid in process_tree(rec.proc.pid):
        try:
            cmd = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ")
        except OSError:
            continue
        if b"multiprocessing.spawn" in cmd and pid != rec.proc.pid:
            out.append(pid)
    return out


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    with open(f"/proc/{pid}/stat") as f:  # a zombie is dead too
        return f.read().split(") ")[-1][0] != "Z"


def test_two_worker_processes_serve_and_survive_a_worker_crash(database_server, tmp_path):
    with RecognizerServer.start_new(database_server.url, tmp_path / "rec", {"FACEFLEET_MODEL_PROCESSES": "2"}) as rec:
        workers = _workers(rec)
        assert len(workers) >= 1, "FACEFLEET_MODEL_PROCESSES=2 started no worker process"
        name = new_username("procs")
        with rec.client() as c:
            assert enrol(c, rec, name, "astronaut").status_code == 201
            assert login(c, "astronaut2", name).json()["username"] == name
            assert login(c, "astronaut2").json()["username"] == name
            assert_error(login(c, "hopper2", name), 401, "no_match")
            assert_error(c.post("/v1/login", files={"image": ("x.jpg", b"not an image")}), 422, "not_an_image")
            assert len(_workers(rec)) == 2  # both started by now (spawned on demand)
            for pid in _workers(rec):
                os.kill(pid, signal.SIGKILL)
            time.sleep(0.5)
            answers = [login(c, "astronaut2", name).status_code for _ in range(3)]
            assert answers[0] in (200, 503) and answers[1:] == [200, 200], answers
            assert c.get("/readyz").status_code == 200
        current = _workers(rec)
        assert current and not set(current) & set(workers)  # the killed workers were replaced
        rec.proc.send_signal(signal.SIGKILL)  # no shutdown: the workers must notice and leave
        rec.proc.wait(timeout=10)
        deadline = time.monotonic() + 10
        left = [p for p in current if _alive(p)]
        while left and time.monotonic() < deadline:
            time.sleep(0.3)
            left = [p for p in left if _alive(p)]
        assert not left, f"worker processes outlived their server: {left}"
