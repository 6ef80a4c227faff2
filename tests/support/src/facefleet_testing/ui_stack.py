"""The whole login loop on loopback only: a fresh network namespace with nothing but `lo`,
the database, the recognizer and the ui inside it, and the browser started from inside it too.

`loopback_namespace()` moves the calling thread (pytest's main thread) into a new network
namespace with unshare(2) and moves it back afterwards with setns(2); every process started
meanwhile inherits the namespace, so no packet of the test can leave the machine, and the test
proves that nothing in the loop needs a network (as on an edge node whose uplink is cut).
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from facefleet_testing.stack import _stop, _tail, free_port

CLONE_NEWNET = 0x40000000


class NamespaceUnavailable(RuntimeError):
    """unshare(CLONE_NEWNET) is not permitted here (needs root / CAP_SYS_ADMIN)."""


@contextlib.contextmanager
def loopback_namespace() -> Iterator[list[str]]:
    """Run the body in a new network namespace whose only interface is `lo` (up)."""
    libc = ctypes.CDLL(None, use_errno=True)
    home = os.open("/proc/thread-self/ns/net", os.O_RDONLY)
    try:
        if libc.unshare(CLONE_NEWNET) != 0:
            err = ctypes.get_errno()
            raise NamespaceUnavailable(f"unshare(CLONE_NEWNET) failed: {os.strerror(err)}")
        try:
            subprocess.run(["ip", "link", "set", "lo", "up"], check=True)
            links = subprocess.run(["ip", "-o", "link", "show"], check=True, capture_output=True, text=True).stdout
            yield [line.split(":")[1].strip() for line in links.splitlines()]
        finally:
            if libc.setns(home, CLONE_NEWNET) != 0:
                raise OSError(ctypes.get_errno(), "setns back to the original network namespace failed")
    finally:
        os.close(home)


@dataclass
class UiServer:
    """`python -m facefleet_ui` on a free 127.0.0.1 port, pointed at a recognizer."""

    recognizer_url: str
    api_key: str
    workdir: Path
    extra_env: dict[str, str] = field(default_factory=dict)
    port: int = field(default_factory=free_port)
    proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/"

    @property
    def log_path(self) -> Path:
        return self.workdir / "ui.log"

    def start(self, timeout_s: float = 60.0) -> UiServer:
        self.workdir.mkdir(parents=True, exist_ok=True)
        env = {k: v for k, v in os.environ.items() if not k.startswith(("FACEFLEET_", "STREAMLIT_"))}
        env.update(
            {
                "RECOGNIZER_URL": self.recognizer_url,
                "FACEFLEET_API_KEY": self.api_key,
                "FACEFLEET_WEBRTC_LOOPBACK": "1",
                "FACEFLEET_UI_PORT": str(self.port),
                **self.extra_env,
            }
        )
        log = self.log_path.open("ab")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "facefleet_ui"],
            env=env,
            cwd=self.workdir,
            stdout=log,
            stderr=log,
            stdin=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"ui exited with {self.proc.returncode}:\n{_tail(self.log_path)}")
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(self.url + "_stcore/health", timeout=2, trust_env=False).status_code == 200:
                    return self
            time.sleep(0.2)
        raise RuntimeError(f"ui not healthy within {timeout_s} s:\n{_tail(self.log_path)}")

    def stop(self) -> None:
        _stop(self.proc)
        self.proc = None

    def __enter__(self) -> UiServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def only_loopback_reachable() -> bool:
    """True when no route leaves the host (a UDP connect to a public address fails)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        try:
            s.connect(("192.0.2.1", 9))  # TEST-NET-1: never routed, but needs a route to connect
        except OSError:
            return True
    return False
