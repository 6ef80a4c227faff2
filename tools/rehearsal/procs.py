"""Start the rehearsal's processes detached (so `KEEP=1` can leave them running), log each into
test-artifacts/rehearsal/logs/, record their pids in .rehearsal/pids, and stop them all again."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from pathlib import Path

from .layout import ARTIFACTS, STATE

LOGS = ARTIFACTS / "logs"
PIDS = STATE / "pids"


def start(name: str, argv: list[str], env: dict[str, str] | None = None, cwd: Path | None = None) -> int:
    """Start argv in its own session with output in logs/<name>.log; returns the pid."""
    LOGS.mkdir(parents=True, exist_ok=True)
    PIDS.mkdir(parents=True, exist_ok=True)
    log = open(LOGS / f"{name}.log", "ab")  # noqa: SIM115 - the detached child writes it for its whole life
    proc = subprocess.Popen(
        argv, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env, cwd=cwd, start_new_session=True
    )
    log.close()
    (PIDS / name).write_text(str(proc.pid))
    return proc.pid


def pid_of(name: str) -> int | None:
    try:
        pid = int((PIDS / name).read_text())
    except (FileNotFoundError, ValueError):
        return None
    return pid if alive(pid) else None


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:  # a zombie child of ours is dead for every purpose here
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, IndexError):
        return False
    return state != "Z"


def stop(name: str, timeout: float = 10.0) -> None:
    """SIGTERM the process group of name, SIGKILL it after timeout; forget its pid."""
    pid = pid_of(name)
    if pid is not None:
        _kill_group(pid, timeout)
    (PIDS / name).unlink(missing_ok=True)


def _kill_group(pid: int, timeout: float) -> None:
    for sig in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.killpg(pid, sig)
        except ProcessLookupError:
            return
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not alive(pid):
                return
            with contextlib.suppress(ChildProcessError):  # reap it if it is our child
                os.waitpid(pid, os.WNOHANG)
            time.sleep(0.1)


def running() -> dict[str, int]:
    """name -> pid of every recorded process still alive."""
    if not PIDS.exists():
        return {}
    return {p.name: pid for p in sorted(PIDS.iterdir()) if (pid := pid_of(p.name)) is not None}


def stop_all(timeout: float = 10.0) -> list[str]:
    """Stop every recorded process, newest first; returns their names."""
    if not PIDS.exists():
        return []
    names = sorted(PIDS.iterdir(), key=lambda p: p.stat().st_mtime, reverse=True)
    for path in names:
        stop(path.name, timeout)
    return [p.name for p in names]


def rss_kb() -> int:
    """Resident memory of every recorded process and its children together (kB)."""
    total = 0
    roots = set(running().values())
    for status in Path("/proc").glob("[0-9]*/status"):
        try:
            fields = dict(line.split(":", 1) for line in status.read_text().splitlines() if ":" in line)
        except (FileNotFoundError, ProcessLookupError):
            continue
        pid = int(status.parent.name)
        try:
            pgid = os.getpgid(pid)
        except ProcessLookupError:
            continue
        if pgid in roots and "VmRSS" in fields:
            total += int(fields["VmRSS"].split()[0])
    return total
