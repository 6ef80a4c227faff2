#!/usr/bin/env python3
"""`make run`: the whole app on 127.0.0.1 in the foreground, in make's process group.

Starts, in order and each once the previous one answers:
  1. the database on 127.0.0.1:27017 (`mongod` if on PATH, else FerretDB/SQLite from .tools/bin),
     data under .data/ so users survive a restart; skipped when MONGO_URL is set;
  2. the recognizer on 127.0.0.1:8000 (`python -m recognizer serve`);
  3. the ui on 127.0.0.1:8501, when ui/src/facefleet_ui/app.py exists (see `ui_command`).
Secrets (API key, token secret, embedding key) come from the environment, else from
.secrets/recognizer.env, which is generated on first use. Ctrl-C (SIGINT) or SIGTERM stops
everything within 20 s. A child that dies is restarted with back-off (first within 5 s, at most
every 30 s) while the others keep running; the recognizer answers 503 while its database is away.

Test-only overrides: FACEFLEET_RUN_DATA, FACEFLEET_RUN_SECRETS, FACEFLEET_RUN_DB_PORT,
FACEFLEET_RUN_RECOGNIZER_PORT, FACEFLEET_RUN_UI_PORT, FACEFLEET_RUN_UI=0 (no ui).
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
PY = sys.executable
# The defaults are the contract (DESIGN.md); the overrides exist so tests can run a second stack.
DATA = Path(os.environ.get("FACEFLEET_RUN_DATA") or ROOT / ".data")
SECRETS_FILE = Path(os.environ.get("FACEFLEET_RUN_SECRETS") or ROOT / ".secrets" / "recognizer.env")
HOST = "127.0.0.1"
DB_PORT = int(os.environ.get("FACEFLEET_RUN_DB_PORT") or 27017)
RECOGNIZER_PORT = int(os.environ.get("FACEFLEET_RUN_RECOGNIZER_PORT") or 8000)
UI_PORT = int(os.environ.get("FACEFLEET_RUN_UI_PORT") or 8501)
WITH_UI = os.environ.get("FACEFLEET_RUN_UI", "1") != "0"
SECRET_VARS = ("FACEFLEET_API_KEY", "FACEFLEET_TOKEN_SECRET", "FACEFLEET_EMBEDDING_KEY")
STOP_GRACE_S = 5.0  # per child; three children stay well under 20 s


def say(msg: str) -> None:
    print(f"[make run] {msg}", flush=True)


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
def database_command() -> list[str]:
    mongod = shutil.which("mongod")
    if mongod:
        data = DATA / "mongod"
        data.mkdir(parents=True, exist_ok=True)
        return [mongod, "--dbpath", str(data), "--port", str(DB_PORT), "--bind_ip", HOST, "--quiet"]
    ferretdb = ROOT / ".tools" / "bin" / "ferretdb"
    if not ferretdb.exists():
        sys.exit("[make run] no database: run `make database` (builds .tools/bin/ferretdb) or set MONGO_URL")
    data = DATA / "ferretdb"
    data.mkdir(parents=True, exist_ok=True)
    return [
        str(ferretdb),
        "--handler=sqlite",
        f"--sqlite-url=file:{data}/",
        f"--state-dir={data}",
        f"--listen-addr={HOST}:{DB_PORT}",
        "--debug-addr=-",
        "--telemetry=disable",
        "--log-level=error",
    ]


def recognizer_command() -> list[str]:
    return [PY, "-m", "recognizer", "serve", "--host", HOST, "--port", str(RECOGNIZER_PORT)]


def ui_command() -> list[str] | None:
    """The ui's command line (owned by the ui engineer); None when the ui is not there yet."""
    app = ROOT / "ui" / "src" / "facefleet_ui" / "app.py"
    if not WITH_UI or not app.exists():
        return None
    # ui/src/facefleet_ui/__main__.py adds: headless, no usage stats, no file watcher, no error details.
    return [PY, "-m", "facefleet_ui", "--host", HOST, "--port", str(UI_PORT)]


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
        self.stopping = True
        for child in reversed(self.children):
            name, proc = child.name, child.proc
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
                try:
                    proc.wait(timeout=STOP_GRACE_S)
                except subprocess.TimeoutExpired:
                    say(f"{name} did not stop in {STOP_GRACE_S:.0f} s; killing it")
                    proc.kill()
                    proc.wait(timeout=2)
        say("stopped")


def require_free(port: int, what: str) -> None:
    """Refuse to start next to another server on the same port (it would answer in our place)."""
    with socket.socket() as sock:
        if sock.connect_ex((HOST, port)) == 0:
            raise SystemExit(
                f"[make run] {HOST}:{port} is already in use; stop whatever listens there "
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
    raise SystemExit(f"[make run] {what} did not come up within {timeout_s:.0f} s")


def http_ok(url: str) -> bool:
    with urllib.request.urlopen(url, timeout=2) as r:  # noqa: S310 (a local URL)
        return r.status == 200


def mongo_ok(url: str) -> bool:
    from pymongo import MongoClient

    with MongoClient(url, serverSelectionTimeoutMS=1000) as c:
        c.admin.command("ping")
        return True


def main() -> int:
    sup = Supervisor()

    def on_signal(signum: int, _frame: object) -> None:
        raise KeyboardInterrupt

    # Installed explicitly: a shell that starts `make run` in the background ignores SIGINT for it.
    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    env = dict(os.environ)
    env.update(load_secrets())
    env.setdefault("DEEPFACE_HOME", str(ROOT / ".cache" / "deepface"))
    try:
        if env.get("MONGO_URL"):
            say("using the database at MONGO_URL")
        else:
            env["MONGO_URL"] = f"mongodb://{HOST}:{DB_PORT}/"
            require_free(DB_PORT, "the database")
            sup.start("database", database_command(), env)
            wait_until("the database", lambda: mongo_ok(env["MONGO_URL"]), sup, timeout_s=60)
        require_free(RECOGNIZER_PORT, "the recognizer")
        sup.start("recognizer", recognizer_command(), env)
        wait_until("the recognizer", lambda: http_ok(f"http://{HOST}:{RECOGNIZER_PORT}/readyz"), sup)
        say(f"recognizer ready on http://{HOST}:{RECOGNIZER_PORT} (API docs: /docs)")
        ui = ui_command()
        if ui:
            env.setdefault("RECOGNIZER_URL", f"http://{HOST}:{RECOGNIZER_PORT}")
            require_free(UI_PORT, "the ui")
            sup.start("ui", ui, env)
            wait_until("the ui", lambda: http_ok(f"http://{HOST}:{UI_PORT}/"), sup)
            say(f"ui ready on http://{HOST}:{UI_PORT}/")
        say("running; a child that dies is restarted; Ctrl-C stops everything")
        while True:
            sup.check()
            time.sleep(0.5)
    except KeyboardInterrupt:
        say("stopping ...")
        return 0
    except SystemExit as exc:
        print(exc, file=sys.stderr, flush=True)
        return 1
    finally:
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # a second Ctrl-C must not cut the clean stop short
        sup.stop()


if __name__ == "__main__":
    sys.exit(main())
