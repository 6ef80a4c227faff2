"""`make run`'s supervisor (tools/devstack.py): starts DB + recognizer, keeps data, stops on Ctrl-C.

Runs on free ports and a temporary data folder (the FACEFLEET_RUN_* overrides), in its own
process group, and sends SIGINT to the whole group as a terminal's Ctrl-C does.
"""

from __future__ import annotations

import os
import signal
import socket
import stat
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from facefleet_testing.recognizer_api import enrol, new_username
from facefleet_testing.stack import ROOT, free_port

pytestmark = pytest.mark.slow  # own servers, restarts or timers: tens of seconds


def _listening(port: int) -> bool:
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) == 0


@pytest.fixture()
def run_env(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("FACEFLEET_") and k != "MONGO_URL"}
    env.update(
        FACEFLEET_RUN_DATA=str(tmp_path / "data"),
        FACEFLEET_RUN_SECRETS=str(tmp_path / "secrets" / "r.env"),
        FACEFLEET_RUN_DB_PORT=str(free_port()),
        FACEFLEET_RUN_RECOGNIZER_PORT=str(free_port()),
        FACEFLEET_RUN_UI="0",
    )
    env.setdefault("DEEPFACE_HOME", str(ROOT / ".cache" / "deepface"))
    return env


def _start(env: dict[str, str]) -> subprocess.Popen[str]:
    proc = subprocess.Popen(
        [sys.executable, str(ROOT / "tools" / "devstack.py")],
        env=env,
        cwd=ROOT,
        start_new_session=True,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    url = f"http://127.0.0.1:{env['FACEFLEET_RUN_RECOGNIZER_PORT']}/readyz"
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        assert proc.poll() is None, proc.stdout.read()
        try:
            if httpx.get(url, timeout=2).status_code == 200:
                return proc
        except httpx.HTTPError:
            pass
        time.sleep(0.3)
    os.killpg(proc.pid, signal.SIGKILL)
    raise AssertionError("devstack never became ready")


def _ctrl_c(proc: subprocess.Popen[str], env: dict[str, str]) -> str:
    start = time.monotonic()
    os.killpg(proc.pid, signal.SIGINT)  # what the terminal does on Ctrl-C: the whole process group
    try:
        out, _ = proc.communicate(timeout=20)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        raise AssertionError("make run did not stop within 20 s") from None
    assert proc.returncode == 0, out
    assert time.monotonic() - start < 20
    for var in ("FACEFLEET_RUN_DB_PORT", "FACEFLEET_RUN_RECOGNIZER_PORT"):
        assert not _listening(int(env[var])), f"{var} still listening after Ctrl-C"
    return out


def test_run_generates_secrets_keeps_users_and_stops_on_ctrl_c(run_env):
    secrets_file = run_env["FACEFLEET_RUN_SECRETS"]
    proc = _start(run_env)
    mode = stat.S_IMODE(os.stat(secrets_file).st_mode)
    assert mode == 0o600
    lines = dict(line.split("=", 1) for line in Path(secrets_file).read_text().split())
    assert set(lines) == {"FACEFLEET_API_KEY", "FACEFLEET_TOKEN_SECRET", "FACEFLEET_EMBEDDING_KEY"}
    assert all(len(v) >= 16 for v in lines.values())

    class Rec:  # what support.recognizer_api.enrol needs
        headers = {"X-API-Key": lines["FACEFLEET_API_KEY"]}

    base = f"http://127.0.0.1:{run_env['FACEFLEET_RUN_RECOGNIZER_PORT']}"
    name = new_username("run")
    with httpx.Client(base_url=base, timeout=60) as c:
        assert enrol(c, Rec, name, "hopper").status_code == 201
    out = _ctrl_c(proc, run_env)
    assert secrets_file in out  # it printed where the API key is

    proc = _start(run_env)  # second `make run`: same secrets, same data
    try:
        assert dict(line.split("=", 1) for line in Path(secrets_file).read_text().split()) == lines
        with httpx.Client(base_url=base, timeout=60) as c:
            assert c.get(f"/v1/users/{name}", headers=Rec.headers).status_code == 200
    finally:
        _ctrl_c(proc, run_env)


def test_run_honours_api_key_and_mongo_url(run_env, database_server):
    env = {**run_env, "FACEFLEET_API_KEY": "from-the-environment-0123", "MONGO_URL": database_server.url}
    proc = _start(env)
    try:
        base = f"http://127.0.0.1:{env['FACEFLEET_RUN_RECOGNIZER_PORT']}"
        assert httpx.get(base + "/v1/users", headers={"X-API-Key": "from-the-environment-0123"}).status_code == 200
        assert not _listening(int(env["FACEFLEET_RUN_DB_PORT"]))  # no embedded DB when MONGO_URL is set
    finally:
        _ctrl_c(proc, env)


def test_run_refuses_a_port_already_in_use(run_env):
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", int(run_env["FACEFLEET_RUN_DB_PORT"])))
        busy.listen()
        out = subprocess.run(
            [sys.executable, str(ROOT / "tools" / "devstack.py")],
            env=run_env,
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=60,
        )
    assert out.returncode == 1
    assert "already in use" in out.stderr and run_env["FACEFLEET_RUN_DB_PORT"] in out.stderr


def _children(pid: int) -> dict[str, int]:
    """make run's children by role: database, recognizer, ui."""
    roles = {}
    for child in Path(f"/proc/{pid}/task/{pid}/children").read_text().split():
        try:
            cmd = Path(f"/proc/{child}/cmdline").read_bytes().replace(b"\0", b" ").decode()
        except FileNotFoundError:
            continue
        role = (
            "database"
            if ("ferretdb" in cmd or "mongod" in cmd)
            else "recognizer"
            if "recognizer serve" in cmd
            else "ui"
            if "facefleet_ui" in cmd
            else None
        )
        if role:
            roles[role] = int(child)
    return roles


def test_run_restarts_a_killed_child_and_keeps_the_others(run_env):
    """SIGKILL each child of `make run` in turn: it is back within 5 s on the same port, the others
    keep their pids, the page and the API answer again without a hand step, and every acknowledged
    enrolment is still there."""
    env = run_env | {"FACEFLEET_RUN_UI": "1", "FACEFLEET_RUN_UI_PORT": str(free_port())}
    proc = _start(env)
    base = f"http://127.0.0.1:{env['FACEFLEET_RUN_RECOGNIZER_PORT']}"
    page = f"http://127.0.0.1:{env['FACEFLEET_RUN_UI_PORT']}/"
    try:
        lines = dict(line.split("=", 1) for line in Path(env["FACEFLEET_RUN_SECRETS"]).read_text().split())

        class Rec:
            headers = {"X-API-Key": lines["FACEFLEET_API_KEY"]}

        def serving() -> bool:
            try:
                return (
                    httpx.get(base + "/readyz", timeout=2).status_code == 200
                    and httpx.get(page, timeout=2).status_code == 200
                )
            except httpx.HTTPError:
                return False

        deadline = time.monotonic() + 60
        while not serving():
            assert time.monotonic() < deadline, "the ui never answered"
            time.sleep(0.3)
        enrolled = []
        with httpx.Client(base_url=base, timeout=60) as c:
            for victim in ("database", "recognizer", "ui"):
                name = new_username("kill")
                assert enrol(c, Rec, name, "hopper").status_code == 201
                enrolled.append(name)
                before = _children(proc.pid)
                assert set(before) == {"database", "recognizer", "ui"}, before
                os.kill(before[victim], signal.SIGKILL)
                killed = time.monotonic()
                while (now := _children(proc.pid)).get(victim) in (None, before[victim]):
                    assert time.monotonic() - killed < 5, f"{victim} not restarted within 5 s"
                    assert proc.poll() is None, "make run stopped"
                    time.sleep(0.1)
                assert {k: v for k, v in now.items() if k != victim} == {
                    k: v for k, v in before.items() if k != victim
                }, f"killing the {victim} restarted others"
                while not serving():
                    assert time.monotonic() - killed < 120, f"not serving again after the {victim} was killed"
                    time.sleep(0.3)
            for name in enrolled:
                assert c.get(f"/v1/users/{name}", headers=Rec.headers).status_code == 200, f"{name} was lost"
    finally:
        _ctrl_c(proc, env)


def test_restart_back_off_doubles_to_30_s_and_resets_after_a_stable_minute(monkeypatch):
    """A child that keeps crashing is restarted after 1, 2, 4, ... s, never less often than every
    30 s; one that then stays up a minute starts over at 1 s."""
    from tools import devstack

    now = [0.0]
    sup = devstack.Supervisor(clock=lambda: now[0])
    monkeypatch.setattr(devstack, "say", lambda msg: None)
    sup.start("crasher", [sys.executable, "-c", "raise SystemExit(3)"], dict(os.environ))
    child = sup.children[0]
    delays = []
    for _ in range(7):
        child.proc.wait(10)
        sup.check()  # notices the exit, schedules the restart
        delays.append(child.restart_at - now[0])
        now[0] = child.restart_at
        sup.check()  # restarts it
        assert child.restart_at is None
    assert delays == [1, 2, 4, 8, 16, 30, 30]
    child.proc.wait(10)
    now[0] += devstack.STABLE_S  # pretend it had stayed up for a minute
    child.started_at = now[0] - devstack.STABLE_S
    sup.check()
    assert child.restart_at - now[0] == 1
    sup.stop()
