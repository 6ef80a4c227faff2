#!/usr/bin/env python3
"""`make run` and `make run-sites`: the app on 127.0.0.1 in the foreground, in make's process group.

`make run` (one site, the home of users) starts, in order and each once the previous one answers:
  1. the database on 127.0.0.1:27017 (`mongod` if on PATH, else FerretDB/SQLite from .tools/bin),
     data under .data/ so users survive a restart; skipped when MONGO_URL is set;
  2. the recognizer on 127.0.0.1:8000 (`python -m recognizer serve`);
  3. the ui on 127.0.0.1:8501, when ui/src/facefleet_ui/app.py exists (see `ui_command`).
`make run-sites` (`--sites`) starts that home with FACEFLEET_SITE=home, then an edge site `edge-1`
that syncs from it (tools/devsites.py: identity, credential, what the two sites share): its own
FerretDB on 127.0.0.1:27117 (data under .data/edge/), a recognizer on :8100, a ui on :8601.
Secrets (API key, token secret, embedding key) come from the environment, else from
.secrets/recognizer.env, which is generated on first use. Ctrl-C (SIGINT) or SIGTERM stops
everything within 20 s. A child that dies is restarted with back-off (first within 5 s, at most
every 30 s) while the others keep running; the recognizer answers 503 while its database is away.

Test-only overrides: FACEFLEET_RUN_DATA, FACEFLEET_RUN_SECRETS, FACEFLEET_RUN_DB_PORT,
FACEFLEET_RUN_RECOGNIZER_PORT, FACEFLEET_RUN_UI_PORT, FACEFLEET_RUN_EDGE_DB_PORT,
FACEFLEET_RUN_EDGE_RECOGNIZER_PORT, FACEFLEET_RUN_EDGE_UI_PORT, FACEFLEET_RUN_UI=0 (no ui).
"""

from __future__ import annotations

import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # run as a script (`python tools/devstack.py`): find the tools package
    sys.path.insert(0, str(ROOT))
from tools import devsites  # noqa: E402

PY = sys.executable
# The defaults are the contract (DESIGN.md); the overrides exist so tests can run a second stack.
DATA = Path(os.environ.get("FACEFLEET_RUN_DATA") or ROOT / ".data")
SECRETS_FILE = Path(os.environ.get("FACEFLEET_RUN_SECRETS") or ROOT / ".secrets" / "recognizer.env")
HOST = "127.0.0.1"
DB_PORT = int(os.environ.get("FACEFLEET_RUN_DB_PORT") or 27017)
RECOGNIZER_PORT = int(os.environ.get("FACEFLEET_RUN_RECOGNIZER_PORT") or 8000)
UI_PORT = int(os.environ.get("FACEFLEET_RUN_UI_PORT") or 8501)
EDGE_DB_PORT = int(os.environ.get("FACEFLEET_RUN_EDGE_DB_PORT") or 27117)
EDGE_RECOGNIZER_PORT = int(os.environ.get("FACEFLEET_RUN_EDGE_RECOGNIZER_PORT") or 8100)
EDGE_UI_PORT = int(os.environ.get("FACEFLEET_RUN_EDGE_UI_PORT") or 8601)
EDGE_DATA = DATA / "edge"
EDGE_SECRETS_FILE = SECRETS_FILE.with_name(f"{devsites.EDGE_SITE}.env")
WITH_UI = os.environ.get("FACEFLEET_RUN_UI", "1") != "0"
SECRET_VARS = ("FACEFLEET_API_KEY", "FACEFLEET_TOKEN_SECRET", "FACEFLEET_EMBEDDING_KEY")
STOP_GRACE_S = 10.0  # for all children together (they are told at once), then SIGKILL: under 20 s
TARGET = "make run"  # names the target in every line printed; main() sets it


def say(msg: str) -> None:
    print(f"[{TARGET}] {msg}", flush=True)


# -- secrets -------------------------------------------------------------------------------------
def load_secrets() -> dict[str, str]:
    """Environment first; else the ignored file; missing ones are generated and saved there."""
    saved: dict[str, str] = {}
    if SECRETS_FILE.exists():
        for line in SECRETS_FILE.read_text().splitlines():
            key, sep, value = line.partition("=")
            if sep and key.strip() in SECRET_VARS:
                saved[key.strip()] = value.strip()
    out, generated = {}, False
    for var in SECRET_VARS:
        value = os.environ.get(var) or saved.get(var)
        if not value:
            value = saved[var] = secrets.token_urlsafe(32)
            generated = True
        out[var] = value
    if generated:
        SECRETS_FILE.parent.mkdir(mode=0o700, exist_ok=True)
        SECRETS_FILE.write_text("".join(f"{k}={v}\n" for k, v in saved.items()))
        SECRETS_FILE.chmod(0o600)
    source = "the environment" if os.environ.get("FACEFLEET_API_KEY") else str(SECRETS_FILE)
    say(f"API key (header X-API-Key): from {source}" + (" (generated now)" if generated else ""))
    return out


# -- children ------------------------------------------------------------------------------------
def database_command(data_root: Path, port: int, *, ferretdb_only: bool = False) -> list[str]:
    """`mongod` when on PATH (unless `ferretdb_only`: an edge site's engine), else FerretDB/SQLite."""
    mongod = None if ferretdb_only else shutil.which("mongod")
    if mongod:
        data = data_root / "mongod"
        data.mkdir(parents=True, exist_ok=True)
        return [mongod, "--dbpath", str(data), "--port", str(port), "--bind_ip", HOST, "--quiet"]
    ferretdb = ROOT / ".tools" / "bin" / "ferretdb"
    if not ferretdb.exists():
        sys.exit(f"[{TARGET}] no database: run `make database` (builds .tools/bin/ferretdb) or set MONGO_URL")
    data = data_root / "ferretdb"
    data.mkdir(parents=True, exist_ok=True)
    return [
        str(ferretdb),
        "--handler=sqlite",
        f"--sqlite-url=file:{data}/",
        f"--state-dir={data}",
        f"--listen-addr={HOST}:{port}",
        "--debug-addr=-",
        "--telemetry=disable",
        "--log-level=error",
    ]


def recognizer_command(port: int) -> list[str]:
    return [PY, "-m", "recognizer", "serve", "--host", HOST, "--port", str(port)]


def ui_command(port: int) -> list[str] | None:
    """The ui's command line (owned by the ui engineer); None when the ui is not there yet."""
    app = ROOT / "ui" / "src" / "facefleet_ui" / "app.py"
    if not WITH_UI or not app.exists():
        return None
    # ui/src/facefleet_ui/__main__.py adds: headless, no usage stats, no file watcher, no error details.
    return [PY, "-m", "facefleet_ui", "--host", HOST, "--port", str(port)]


FIRST_RESTART_S = 1.0  # a crashed child is back within 5 s (plus its own start-up)
MAX_BACKOFF_S = 30.0  # doubling from FIRST_RESTART_S, as a kubelet backs off a crash loop
STABLE_S = 60.0  # a child up this long starts over from FIRST_RESTART_S


@dataclass
class Child:
    name: str
    cmd: list[str]
    env: dict[str, str]
    proc: subprocess.Popen[bytes]
    started_at: float
    backoff_s: float = FIRST_RESTART_S
    restart_at: float | None = None  # set while it is down and waiting for its restart


class Supervisor:
    """Keeps every child running: one that exits is restarted with back-off on the same command,
    environment and port, in make's process group, while the others go on serving."""

    def __init__(self, clock=time.monotonic) -> None:
        self.children: list[Child] = []
        self.stopping = False
        self._clock = clock

    def start(self, name: str, cmd: list[str], env: dict[str, str]) -> subprocess.Popen[bytes]:
        say(f"starting {name}: {' '.join(cmd[:4])} ...")
        proc = self._spawn(cmd, env)
        self.children.append(Child(name, cmd, env, proc, self._clock()))
        return proc

    @staticmethod
    def _spawn(cmd: list[str], env: dict[str, str]) -> subprocess.Popen[bytes]:
        return subprocess.Popen(cmd, env=env, cwd=ROOT, stdin=subprocess.DEVNULL)  # same process group

    def check(self) -> None:
        """Notice exits and restart what is due; never raises for a crashed child."""
        now = self._clock()
        for child in self.children:
            if child.restart_at is None and child.proc.poll() is not None:
                if now - child.started_at >= STABLE_S:
                    child.backoff_s = FIRST_RESTART_S
                child.restart_at = now + child.backoff_s
                say(f"{child.name} exited with {child.proc.returncode}; restarting it in {child.backoff_s:.0f} s")
                child.backoff_s = min(child.backoff_s * 2, MAX_BACKOFF_S)
            if child.restart_at is not None and now >= child.restart_at and not self.stopping:
                child.proc = self._spawn(child.cmd, child.env)
                child.started_at, child.restart_at = now, None
                say(f"{child.name} restarted (pid {child.proc.pid})")

    def stop(self) -> None:
        """SIGTERM to every running child at once (the ui first), then SIGKILL what is left after
        STOP_GRACE_S: six children of `make run-sites` stop as fast as one."""
        self.stopping = True
        running = [child for child in reversed(self.children) if child.proc.poll() is None]
        for child in running:
            child.proc.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + STOP_GRACE_S
        for child in running:
            try:
                child.proc.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                say(f"{child.name} did not stop in {STOP_GRACE_S:.0f} s; killing it")
                child.proc.kill()
                child.proc.wait(timeout=2)
        say("stopped")


def require_free(port: int, what: str) -> None:
    """Refuse to start next to another server on the same port (it would answer in our place)."""
    with socket.socket() as sock:
        if sock.connect_ex((HOST, port)) == 0:
            raise SystemExit(
                f"[{TARGET}] {HOST}:{port} is already in use; stop whatever listens there "
                f"(another `make run`?) before starting {what}"
            )


def wait_until(what: str, ok, sup: Supervisor, timeout_s: float = 120.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        sup.check()
        try:
            if ok():
                return
        except Exception:
            pass
        time.sleep(0.3)
    raise SystemExit(f"[{TARGET}] {what} did not come up within {timeout_s:.0f} s")


def http_ok(url: str) -> bool:
    with urllib.request.urlopen(url, timeout=2) as r:  # noqa: S310 (a local URL)
        return r.status == 200


def mongo_ok(url: str) -> bool:
    from pymongo import MongoClient

    with MongoClient(url, serverSelectionTimeoutMS=1000) as c:
        c.admin.command("ping")
        return True


@dataclass
class Site:
    """One site's servers: `db_port` None means the database at MONGO_URL (the home only)."""

    name: str  # prefixes the children's names: "database", or "edge-1 database"
    db_port: int | None
    recognizer_port: int
    ui_port: int
    data: Path
    ferretdb_only: bool = False


def start_site(sup: Supervisor, site: Site, env: dict[str, str], ui_env: dict[str, str] | None = None) -> None:
    """Database (unless MONGO_URL is given in `env`), recognizer, ui: each once the previous answers."""
    prefix = f"{site.name} " if site.name else ""
    if site.db_port is None:
        say(f"{prefix}recognizer uses the database at MONGO_URL")
    else:
        env["MONGO_URL"] = f"mongodb://{HOST}:{site.db_port}/"
        sup.start(f"{prefix}database", database_command(site.data, site.db_port, ferretdb_only=site.ferretdb_only), env)
        wait_until(f"the {prefix}database", lambda: mongo_ok(env["MONGO_URL"]), sup, timeout_s=60)
    base = f"http://{HOST}:{site.recognizer_port}"
    sup.start(f"{prefix}recognizer", recognizer_command(site.recognizer_port), env)
    wait_until(f"the {prefix}recognizer", lambda: http_ok(f"{base}/readyz"), sup)
    say(f"{prefix}recognizer ready on {base} (API docs: /docs)")
    ui = ui_command(site.ui_port)
    if ui:
        ui_env = dict(env if ui_env is None else ui_env)
        ui_env.setdefault("RECOGNIZER_URL", base)
        sup.start(f"{prefix}ui", ui, ui_env)
        wait_until(f"the {prefix}ui", lambda: http_ok(f"http://{HOST}:{site.ui_port}/"), sup)
        say(f"{prefix}ui ready on http://{HOST}:{site.ui_port}/")


def start_edge(sup: Supervisor, home_env: dict[str, str], home_url: str) -> None:
    """The edge site syncing from the home (tools/devsites.py says what it shares with the home)."""
    edge = Site(devsites.EDGE_SITE, EDGE_DB_PORT, EDGE_RECOGNIZER_PORT, EDGE_UI_PORT, EDGE_DATA, ferretdb_only=True)
    credential = devsites.sync_credential(home_url, home_env["FACEFLEET_API_KEY"], EDGE_SECRETS_FILE, say)
    env = devsites.edge_env(
        home_env,
        home_url=home_url,
        mongo_url=f"mongodb://{HOST}:{EDGE_DB_PORT}/",
        credential=credential,
        token_secret=devsites.edge_token_secret(os.environ, EDGE_SECRETS_FILE),
    )
    ui_env = {k: v for k, v in env.items() if k != "FACEFLEET_SYNC_CREDENTIAL"}
    ui_env["RECOGNIZER_URL"] = f"http://{HOST}:{EDGE_RECOGNIZER_PORT}"
    start_site(sup, edge, env, ui_env)


def planned_ports(home: Site, sites: bool) -> list[tuple[int, str]]:
    ports = [(RECOGNIZER_PORT, "the recognizer")]
    if home.db_port is not None:
        ports.insert(0, (home.db_port, "the database"))
    if sites:
        ports += [(EDGE_DB_PORT, "the edge database"), (EDGE_RECOGNIZER_PORT, "the edge recognizer")]
    if WITH_UI:
        ports += [(UI_PORT, "the ui")] + ([(EDGE_UI_PORT, "the edge ui")] if sites else [])
    return ports


def main(argv: list[str] | None = None) -> int:
    global TARGET
    sites = "--sites" in (sys.argv[1:] if argv is None else argv)
    TARGET = "make run-sites" if sites else "make run"
    sup = Supervisor()

    def on_signal(signum: int, _frame: object) -> None:
        raise KeyboardInterrupt

    # Installed explicitly: a shell that starts `make run` in the background ignores SIGINT for it.
    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    env = dict(os.environ)
    env.update(load_secrets())
    env.setdefault("DEEPFACE_HOME", str(ROOT / ".cache" / "deepface"))
    external_db = bool(env.get("MONGO_URL"))
    home = Site("", None if external_db else DB_PORT, RECOGNIZER_PORT, UI_PORT, DATA)
    try:
        if sites:
            env = devsites.home_env(env)
            note = devsites.environ_note(os.environ)
            if note:
                say(note)
        for port, what in planned_ports(home, sites):  # all before anything starts
            require_free(port, what)
        start_site(sup, home, env)
        if sites:
            start_edge(sup, env, f"http://{HOST}:{RECOGNIZER_PORT}")
        say("running; a child that dies is restarted; Ctrl-C stops everything")
        while True:
            sup.check()
            time.sleep(0.5)
    except KeyboardInterrupt:
        say("stopping ...")
        return 0
    except devsites.HomeRefused as exc:
        print(f"[{TARGET}] {exc}", file=sys.stderr, flush=True)
        return 1
    except SystemExit as exc:
        print(exc, file=sys.stderr, flush=True)
        return 1
    finally:
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # a second Ctrl-C must not cut the clean stop short
        sup.stop()


if __name__ == "__main__":
    sys.exit(main())
