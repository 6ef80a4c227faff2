"""Real servers for integration tests: the database and the recognizer as subprocesses.

Reusable by every area (recognizer, ui, bench, reliability):

    from facefleet_testing.stack import DatabaseServer, RecognizerServer

    with DatabaseServer.start_new(tmp_path / "db") as db:            # FerretDB/SQLite or mongod
        with RecognizerServer.start_new(db.url, tmp_path / "rec") as rec:   # python -m recognizer serve
            httpx.get(rec.url + "/readyz")
            rec.restart(); db.stop(); db.start()

The pytest fixtures at the bottom (registered in tests/conftest.py) give one session-wide pair:
`database_server` and `recognizer_server`. Tests that stop or restart servers should build their
own pair with the classes above instead of disturbing the shared one.

Every server listens on a free 127.0.0.1 port, keeps its data and log in a temporary folder, and
is stopped (SIGTERM, then SIGKILL after a grace period) when the context or fixture ends.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest

from facefleet_testing.paths import ROOT

FERRETDB = ROOT / ".tools" / "bin" / "ferretdb"


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def process_tree(pid: int) -> list[int]:
    """The process and all its descendants (the recognizer's face workers), from /proc (Linux)."""
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        for task in Path(f"/proc/{p}/task").glob("*/children"):
            with contextlib.suppress(OSError, ValueError):
                todo.extend(int(c) for c in task.read_text().split())
    return out


def status_kb(pid: int, keys: tuple[str, ...] = ("VmRSS", "VmHWM"), *, tree: bool = True) -> dict[str, int | None]:
    """/proc status fields in kB (e.g. VmRSS now, VmHWM the kernel's peak), summed over the process
    and its descendants when `tree` (the recognizer's face workers decode and embed the images);
    None for a field no process reported (all exited)."""
    out: dict[str, int | None] = dict.fromkeys(keys)
    for p in process_tree(pid) if tree else [pid]:
        try:
            lines = Path(f"/proc/{p}/status").read_text().splitlines()
        except OSError:  # exited meanwhile
            continue
        for line in lines:
            key, _, value = line.partition(":")
            if key in out:
                out[key] = (out[key] or 0) + int(value.split()[0])
    return out


def _tail(path: Path, n: int = 40) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-n:])
    except OSError:
        return "(no log)"


def _stop(proc: subprocess.Popen[bytes] | None, grace_s: float = 10.0) -> None:
    if proc is None or proc.poll() is not None:
        return
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout=grace_s)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=5)


def database_command(data_dir: Path, port: int) -> list[str]:
    """`mongod` when it is on PATH, else FerretDB (SQLite backend) built by `make database`."""
    mongod = shutil.which("mongod")
    if mongod:
        return [mongod, "--dbpath", str(data_dir), "--port", str(port), "--bind_ip", "127.0.0.1", "--quiet"]
    binary = FERRETDB if FERRETDB.exists() else shutil.which("ferretdb")
    if not binary:
        raise RuntimeError("no database: install mongod or run `make database` (builds .tools/bin/ferretdb)")
    return [
        str(binary),
        "--handler=sqlite",
        f"--sqlite-url=file:{data_dir}/",
        f"--state-dir={data_dir}",
        f"--listen-addr=127.0.0.1:{port}",
        "--debug-addr=-",
        "--telemetry=disable",
        "--log-level=error",
    ]


@dataclass
class DatabaseServer:
    """A MongoDB-wire-protocol server on 127.0.0.1 with its data in `data_dir` (kept across restarts)."""

    data_dir: Path
    port: int = field(default_factory=free_port)
    proc: subprocess.Popen[bytes] | None = None
    # Instead of database_command's flags: a server configured by environment alone, e.g. FerretDB
    # with the edge chart's variables (tests/recognizer/test_db_credentials.py).
    command: list[str] | None = None
    env: dict[str, str] | None = None

    @property
    def url(self) -> str:
        return f"mongodb://127.0.0.1:{self.port}/"

    @property
    def log_path(self) -> Path:
        return self.data_dir.parent / f"{self.data_dir.name}.log"

    @classmethod
    def start_new(cls, data_dir: Path) -> DatabaseServer:
        db = cls(data_dir=data_dir)
        db.start()
        return db

    def start(self, timeout_s: float = 30.0) -> None:
        """Start (again) on the same port and data; returns once it answers a ping."""
        self.data_dir.mkdir(parents=True, exist_ok=True)
        with self.log_path.open("ab") as log:  # the child keeps its own copy of the descriptor
            self.proc = subprocess.Popen(
                self.command or database_command(self.data_dir, self.port),
                env=self.env,
                stdout=log,
                stderr=log,
                stdin=subprocess.DEVNULL,
            )
        try:
            self._wait(timeout_s)
        except BaseException:
            self.stop()  # never leave a half-started server behind
            raise

    def _wait(self, timeout_s: float) -> None:
        from pymongo import MongoClient

        assert self.proc is not None
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"database exited with {self.proc.returncode}:\n{_tail(self.log_path)}")
            with contextlib.suppress(Exception), MongoClient(self.url, serverSelectionTimeoutMS=500) as c:
                c.admin.command("ping")
                return
            time.sleep(0.2)
        raise RuntimeError(f"database did not answer within {timeout_s} s:\n{_tail(self.log_path)}")

    def stop(self) -> None:
        _stop(self.proc)
        self.proc = None

    def client(self):  # -> pymongo.MongoClient
        from pymongo import MongoClient

        return MongoClient(self.url, serverSelectionTimeoutMS=3000, tz_aware=True)

    def __enter__(self) -> DatabaseServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def fresh_secrets() -> dict[str, str]:
    """Fresh secrets for one recognizer (each >= 16 characters, as `serve` requires)."""
    return {
        "FACEFLEET_API_KEY": "test-api-" + secrets.token_hex(12),
        "FACEFLEET_TOKEN_SECRET": "test-token-" + secrets.token_hex(16),
        "FACEFLEET_EMBEDDING_KEY": "test-embedding-" + secrets.token_hex(16),
    }


@dataclass
class RecognizerServer:
    """`python -m recognizer serve` on a free port, against `mongo_url`, in database `db_name`.

    `env` holds its FACEFLEET_* settings (secrets included); pass overrides to `start_new`, e.g.
    {"FACEFLEET_LOCKOUT_S": "2"}. Restarting keeps the settings, so data written before is readable.
    """

    mongo_url: str
    workdir: Path
    env: dict[str, str]
    port: int = field(default_factory=free_port)
    proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def api_key(self) -> str:
        return self.env["FACEFLEET_API_KEY"]

    @property
    def headers(self) -> dict[str, str]:
        """The API-key header for user management routes."""
        return {"X-API-Key": self.api_key}

    @property
    def db_name(self) -> str:
        return self.env["FACEFLEET_MONGO_DB"]

    @property
    def log_path(self) -> Path:
        return self.workdir / "recognizer.log"

    @classmethod
    def start_new(
        cls, mongo_url: str, workdir: Path, env: dict[str, str] | None = None, *, wait_ready: bool = True
    ) -> RecognizerServer:
        settings = {
            **fresh_secrets(),
            "FACEFLEET_MONGO_DB": "t_" + secrets.token_hex(4),
            "FACEFLEET_INDEX_REFRESH_S": "0.5",
            **(env or {}),
        }
        rec = cls(mongo_url=mongo_url, workdir=workdir, env=settings)
        rec.start(wait_ready=wait_ready)
        return rec

    def process_env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("FACEFLEET_")}
        env.setdefault("DEEPFACE_HOME", str(ROOT / ".cache" / "deepface"))
        env.update(self.env)
        env["MONGO_URL"] = self.mongo_url
        return env

    def start(self, *, wait_ready: bool = True, timeout_s: float = 90.0) -> None:
        self.workdir.mkdir(parents=True, exist_ok=True)
        with self.log_path.open("ab") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "recognizer", "serve", "--host", "127.0.0.1", "--port", str(self.port)],
                env=self.process_env(),
                cwd=self.workdir,
                stdout=log,
                stderr=log,
                stdin=subprocess.DEVNULL,
            )
        try:
            self.wait(ready=wait_ready, timeout_s=timeout_s)
        except BaseException:
            self.stop()  # never leave a half-started server behind
            raise

    def wait(self, *, ready: bool = True, timeout_s: float = 90.0) -> None:
        """Wait for /readyz 200 (ready=True) or /healthz 200."""
        path = "/readyz" if ready else "/healthz"
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.proc is None or self.proc.poll() is not None:
                code = None if self.proc is None else self.proc.returncode
                raise RuntimeError(f"recognizer exited with {code}:\n{_tail(self.log_path)}")
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(self.url + path, timeout=2).status_code == 200:
                    return
            time.sleep(0.2)
        raise RuntimeError(f"recognizer not {path} within {timeout_s} s:\n{_tail(self.log_path)}")

    def stop(self) -> None:
        _stop(self.proc)
        self.proc = None

    def restart(self, *, wait_ready: bool = True) -> None:
        self.stop()
        self.start(wait_ready=wait_ready)

    def client(self, **kw) -> httpx.Client:
        """An httpx client on this server (no API key: add `headers=rec.headers` where needed)."""
        return httpx.Client(base_url=self.url, timeout=kw.pop("timeout", 60), **kw)

    def __enter__(self) -> RecognizerServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


# -- pytest fixtures (registered in tests/conftest.py) -------------------------------------------
@pytest.fixture(scope="session")
def database_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DatabaseServer]:
    """One database for the whole session (FerretDB/SQLite, or mongod when on PATH)."""
    with DatabaseServer.start_new(tmp_path_factory.mktemp("database") / "data") as db:
        yield db


@pytest.fixture(scope="session")
def recognizer_server(
    database_server: DatabaseServer, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[RecognizerServer]:
    """One ready recognizer for the whole session, on `database_server`; do not stop or restart it."""
    with RecognizerServer.start_new(database_server.url, tmp_path_factory.mktemp("recognizer")) as rec:
        yield rec
