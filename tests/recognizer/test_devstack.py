"""`make run`'s supervisor (tools/devstack.py): starts DB + recognizer, keeps data, stops on Ctrl-C;
`make run-sites` (the same with `--sites`): that home plus the edge site syncing from it.

Runs on free ports and a temporary data folder (the FACEFLEET_RUN_* overrides), in its own
process group, and sends SIGINT to the whole group as a terminal's Ctrl-C does.
"""

from __future__ import annotations

import contextlib
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

from facefleet_testing.recognizer_api import enrol, login, new_username
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


def _refused_run(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    """tools/devstack.py run to its refusal (it exits at once when a port is taken)."""
    cmd = [sys.executable, str(ROOT / "tools" / "devstack.py"), *args]
    return subprocess.run(cmd, env=env, cwd=ROOT, capture_output=True, text=True, timeout=60)


def test_run_refuses_a_port_already_in_use(run_env):
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", int(run_env["FACEFLEET_RUN_DB_PORT"])))
        busy.listen()
        out = _refused_run(run_env)
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


# -- make run-sites: the home plus an edge site syncing from it ------------------------------------
def _sites_env(run_env: dict[str, str], ui: bool = False) -> dict[str, str]:
    env = run_env | {
        "FACEFLEET_RUN_EDGE_DB_PORT": str(free_port()),
        "FACEFLEET_RUN_EDGE_RECOGNIZER_PORT": str(free_port()),
        "FACEFLEET_SYNC_INTERVAL_S": "0.5",  # every FACEFLEET_* setting applies to both sites
    }
    if ui:
        env |= {"FACEFLEET_RUN_UI": "1", "FACEFLEET_RUN_UI_PORT": str(free_port())}
        env["FACEFLEET_RUN_EDGE_UI_PORT"] = str(free_port())
    return env


SITE_PORTS = (
    "FACEFLEET_RUN_DB_PORT",
    "FACEFLEET_RUN_RECOGNIZER_PORT",
    "FACEFLEET_RUN_EDGE_DB_PORT",
    "FACEFLEET_RUN_EDGE_RECOGNIZER_PORT",
)


def _start_sites(env: dict[str, str]) -> subprocess.Popen[str]:
    proc = subprocess.Popen(
        [sys.executable, str(ROOT / "tools" / "devstack.py"), "--sites"],
        env=env,
        cwd=ROOT,
        start_new_session=True,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    urls = [
        f"http://127.0.0.1:{env[p]}/readyz"
        for p in ("FACEFLEET_RUN_RECOGNIZER_PORT", "FACEFLEET_RUN_EDGE_RECOGNIZER_PORT")
    ]
    if env.get("FACEFLEET_RUN_UI") == "1":
        urls += [f"http://127.0.0.1:{env[p]}/" for p in ("FACEFLEET_RUN_UI_PORT", "FACEFLEET_RUN_EDGE_UI_PORT")]
    deadline = time.monotonic() + 180  # two recognizers loading their models on shared cores
    while urls and time.monotonic() < deadline:
        assert proc.poll() is None, proc.stdout.read()
        try:
            if httpx.get(urls[0], timeout=2).status_code == 200:
                urls.pop(0)
                continue
        except httpx.HTTPError:
            pass
        time.sleep(0.3)
    if urls:
        os.killpg(proc.pid, signal.SIGKILL)
        raise AssertionError(f"make run-sites never answered on {urls[0]}")
    return proc


def _ctrl_c_sites(proc: subprocess.Popen[str], env: dict[str, str]) -> str:
    start = time.monotonic()
    os.killpg(proc.pid, signal.SIGINT)
    try:
        out, _ = proc.communicate(timeout=20)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        raise AssertionError("make run-sites did not stop within 20 s") from None
    assert proc.returncode == 0, out
    assert time.monotonic() - start < 20
    ports = [*SITE_PORTS, "FACEFLEET_RUN_UI_PORT", "FACEFLEET_RUN_EDGE_UI_PORT"]
    for var in ports:
        if var in env:
            assert not _listening(int(env[var])), f"{var} still listening after Ctrl-C"
    return out


def _site_children(pid: int, env: dict[str, str]) -> dict[str, int]:
    """make run-sites' children by port: 'home database', 'edge-1 recognizer', ..."""
    names = {
        env["FACEFLEET_RUN_DB_PORT"]: "home database",
        env["FACEFLEET_RUN_RECOGNIZER_PORT"]: "home recognizer",
        env["FACEFLEET_RUN_EDGE_DB_PORT"]: "edge-1 database",
        env["FACEFLEET_RUN_EDGE_RECOGNIZER_PORT"]: "edge-1 recognizer",
        env.get("FACEFLEET_RUN_UI_PORT", "-"): "home ui",
        env.get("FACEFLEET_RUN_EDGE_UI_PORT", "-"): "edge-1 ui",
    }
    out = {}
    for child in Path(f"/proc/{pid}/task/{pid}/children").read_text().split():
        try:
            argv = Path(f"/proc/{child}/cmdline").read_bytes().decode().split("\0")
        except FileNotFoundError:
            continue
        port = None
        for flag in ("--port", "--server.port"):  # the recognizer's; the ui's launcher execs streamlit
            if flag in argv:
                port = argv[argv.index(flag) + 1]
        for arg in argv:
            if arg.startswith("--listen-addr="):
                port = arg.rsplit(":", 1)[1]
        if port in names:
            out[names[port]] = int(child)
    return out


def _environ(pid: int) -> dict[str, str]:
    raw = Path(f"/proc/{pid}/environ").read_bytes().decode(errors="replace")
    return dict(item.split("=", 1) for item in raw.split("\0") if "=" in item)


def _arrives(c: httpx.Client, name: str, headers: dict[str, str], timeout_s: float = 30) -> None:
    deadline = time.monotonic() + timeout_s
    while c.get(f"/v1/users/{name}", headers=headers).status_code != 200:
        assert time.monotonic() < deadline, f"{name} never reached the edge"
        time.sleep(0.2)


def test_run_sites_enrol_at_home_log_in_at_the_edge_credential_kept_and_reissued(run_env):
    """The contract's ports and sites; the edge's credential is issued once, reused by a restart,
    and issued anew after the home revoked it; the edge keeps its replica across restarts, a killed
    edge recognizer comes back and syncs again; Ctrl-C stops all six children within 20 s."""
    env = _sites_env(run_env, ui=True)
    edge_file = Path(env["FACEFLEET_RUN_SECRETS"]).with_name("edge-1.env")
    proc = _start_sites(env)
    home = f"http://127.0.0.1:{env['FACEFLEET_RUN_RECOGNIZER_PORT']}"
    edge = f"http://127.0.0.1:{env['FACEFLEET_RUN_EDGE_RECOGNIZER_PORT']}"
    try:
        lines = dict(line.split("=", 1) for line in Path(env["FACEFLEET_RUN_SECRETS"]).read_text().split())

        class Rec:
            headers = {"X-API-Key": lines["FACEFLEET_API_KEY"]}  # the same API key at both sites

        assert stat.S_IMODE(os.stat(edge_file).st_mode) == 0o600
        saved = dict(line.split("=", 1) for line in edge_file.read_text().split())
        assert saved["FACEFLEET_SYNC_CREDENTIAL"].startswith("ffs1.edge-1.")
        assert saved["FACEFLEET_TOKEN_SECRET"] != lines["FACEFLEET_TOKEN_SECRET"], "tokens are per site"
        at_home, at_edge = httpx.get(home + "/v1/site").json(), httpx.get(edge + "/v1/site").json()
        assert (at_home["site"], at_home["role"], at_home["last_sync_at"]) == ("home", "home", None)
        assert (at_edge["site"], at_edge["role"]) == ("edge-1", "replica")

        children = _site_children(proc.pid, env)
        assert set(children) == {
            "home database",
            "home recognizer",
            "home ui",
            "edge-1 database",
            "edge-1 recognizer",
            "edge-1 ui",
        }, children
        edge_rec, edge_ui = _environ(children["edge-1 recognizer"]), _environ(children["edge-1 ui"])
        assert edge_rec["MONGO_URL"] == f"mongodb://127.0.0.1:{env['FACEFLEET_RUN_EDGE_DB_PORT']}/"
        assert edge_rec["FACEFLEET_HOME_URL"] == home and edge_rec["FACEFLEET_SITE"] == "edge-1"
        assert edge_ui["RECOGNIZER_URL"] == edge and "FACEFLEET_SYNC_CREDENTIAL" not in edge_ui
        assert _environ(children["home ui"])["RECOGNIZER_URL"] == home
        assert _environ(children["home recognizer"])["FACEFLEET_SITE"] == "home"
        assert (Path(env["FACEFLEET_RUN_DATA"]) / "edge" / "ferretdb").is_dir()  # always FerretDB at the edge

        first = new_username("home")
        with httpx.Client(base_url=home, timeout=60) as h, httpx.Client(base_url=edge, timeout=60) as e:
            assert enrol(h, Rec, first, "hopper").status_code == 201
            _arrives(e, first, Rec.headers)
            assert login(e, "hopper2", first).status_code == 200  # enrolled at the home, decided at the edge
    finally:
        _ctrl_c_sites(proc, env)

    env = env | {"FACEFLEET_RUN_UI": "0"}  # the restarts need no pages
    proc = _start_sites(env)
    try:
        out_saved = dict(line.split("=", 1) for line in edge_file.read_text().split())
        assert out_saved == saved, "a restart reuses the edge's credential and token secret"
        with httpx.Client(base_url=edge, timeout=60) as e:
            assert e.get(f"/v1/users/{first}", headers=Rec.headers).status_code == 200  # the replica was kept
            victim = _site_children(proc.pid, env)["edge-1 recognizer"]
            os.kill(victim, signal.SIGKILL)
            deadline = time.monotonic() + 120
            while True:
                assert time.monotonic() < deadline, "the edge recognizer did not come back"
                with contextlib.suppress(httpx.HTTPError):
                    if e.get("/readyz", timeout=2).status_code == 200:
                        break
                time.sleep(0.3)
            assert _site_children(proc.pid, env)["edge-1 recognizer"] != victim
            with httpx.Client(base_url=home, timeout=60) as h:
                second = new_username("home")
                assert enrol(h, Rec, second, "astronaut").status_code == 201
                _arrives(e, second, Rec.headers)
                assert h.delete("/v1/sync/sites/edge-1", headers=Rec.headers).status_code == 204  # revoked
    finally:
        out = _ctrl_c_sites(proc, env)
    assert "reusing its site credential" in out

    proc = _start_sites(env)
    try:
        renewed = dict(line.split("=", 1) for line in edge_file.read_text().split())
        assert renewed["FACEFLEET_SYNC_CREDENTIAL"] != saved["FACEFLEET_SYNC_CREDENTIAL"]
        assert renewed["FACEFLEET_TOKEN_SECRET"] == saved["FACEFLEET_TOKEN_SECRET"]
        with httpx.Client(base_url=home, timeout=60) as h, httpx.Client(base_url=edge, timeout=60) as e:
            third = new_username("home")
            assert enrol(h, Rec, third, "astronaut").status_code == 201
            _arrives(e, third, Rec.headers)
    finally:
        out = _ctrl_c_sites(proc, env)
    assert "no longer accepts the saved credential" in out


def test_run_sites_honours_the_environment_and_mongo_url_means_the_home(run_env, database_server):
    env = _sites_env(run_env) | {
        "FACEFLEET_API_KEY": "from-the-environment-0123",
        "MONGO_URL": database_server.url,
        "FACEFLEET_THRESHOLD": "0.55",
        "FACEFLEET_HOME_URL": "http://127.0.0.1:9/",  # a site's own setting: run-sites sets it per site
    }
    proc = _start_sites(env)
    try:
        home = f"http://127.0.0.1:{env['FACEFLEET_RUN_RECOGNIZER_PORT']}"
        edge = f"http://127.0.0.1:{env['FACEFLEET_RUN_EDGE_RECOGNIZER_PORT']}"
        key = {"X-API-Key": "from-the-environment-0123"}
        for base in (home, edge):
            assert httpx.get(base + "/v1/users", headers=key).status_code == 200
            assert httpx.get(base + "/readyz").json()["threshold"] == 0.55
        assert httpx.get(home + "/v1/site").json()["role"] == "home"
        assert not _listening(int(env["FACEFLEET_RUN_DB_PORT"]))  # the home uses MONGO_URL ...
        assert _listening(int(env["FACEFLEET_RUN_EDGE_DB_PORT"]))  # ... and the edge its own FerretDB
        edge_rec = _environ(_site_children(proc.pid, env)["edge-1 recognizer"])
        assert edge_rec["MONGO_URL"] != database_server.url
    finally:
        out = _ctrl_c_sites(proc, env)
    assert "ignoring FACEFLEET_HOME_URL" in out


def test_run_sites_refuses_an_edge_port_already_in_use(run_env):
    env = _sites_env(run_env)
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", int(env["FACEFLEET_RUN_EDGE_RECOGNIZER_PORT"])))
        busy.listen()
        out = _refused_run(env, "--sites")
    assert out.returncode == 1
    assert "already in use" in out.stderr and env["FACEFLEET_RUN_EDGE_RECOGNIZER_PORT"] in out.stderr
    assert "starting" not in out.stdout, "nothing starts before every port is known to be free"


def test_site_settings_are_set_per_site():
    from tools import devsites

    given = {
        "FACEFLEET_SITE": "x",
        "FACEFLEET_HOME_URL": "http://elsewhere:8000",
        "FACEFLEET_SYNC_CREDENTIAL": "ffs1.x.y",
        "FACEFLEET_API_KEY": "k" * 20,
        "FACEFLEET_EMBEDDING_KEY": "e" * 20,
        "MONGO_URL": "mongodb://home-db/",
    }
    home = devsites.home_env(given)
    assert home["FACEFLEET_SITE"] == "home" and "FACEFLEET_HOME_URL" not in home
    assert "FACEFLEET_SYNC_CREDENTIAL" not in home and home["MONGO_URL"] == "mongodb://home-db/"
    edge = devsites.edge_env(
        given,
        home_url="http://127.0.0.1:8000",
        mongo_url="mongodb://edge-db/",
        credential="ffs1.edge-1.s",
        token_secret="t",
    )
    assert (edge["FACEFLEET_SITE"], edge["FACEFLEET_HOME_URL"], edge["MONGO_URL"]) == (
        "edge-1",
        "http://127.0.0.1:8000",
        "mongodb://edge-db/",
    )
    assert edge["FACEFLEET_API_KEY"] == home["FACEFLEET_API_KEY"] and edge["FACEFLEET_EMBEDDING_KEY"] == "e" * 20
    assert devsites.environ_note(given).startswith("ignoring FACEFLEET_SITE, FACEFLEET_HOME_URL")
