"""The rehearsal's git server: a throwaway copy of this repository served by `git daemon` on
127.0.0.1, and a working clone in which the scenario makes its commits and pushes them."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

from . import procs
from .layout import GIT_DAEMON_PORT, HOST, ROOT, STATE

GIT_ROOT = STATE / "git"
BARE = GIT_ROOT / "facefleet.git"
WORK = GIT_ROOT / "work"
URL = f"git://{HOST}:{GIT_DAEMON_PORT}/facefleet.git"
_IDENTITY = {
    "GIT_AUTHOR_NAME": "rehearsal",
    "GIT_AUTHOR_EMAIL": "rehearsal@facefleet.invalid",
    "GIT_COMMITTER_NAME": "rehearsal",
    "GIT_COMMITTER_EMAIL": "rehearsal@facefleet.invalid",
}


def git(*args: str, cwd: Path = WORK) -> str:
    import os

    proc = subprocess.run(
        ["git", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        env=os.environ | _IDENTITY | {"GIT_CONFIG_NOSYSTEM": "1"},
    )
    if proc.returncode != 0:
        raise RuntimeError(f"git {' '.join(args)} failed in {cwd}: {proc.stderr.strip()}")
    return proc.stdout.strip()


def seed() -> str:
    """A fresh repository holding this working tree as one commit on main; returns its sha.

    The working tree, not HEAD: the rehearsal proves what is about to be pushed."""
    from tools.gitops.tree import export_worktree

    shutil.rmtree(GIT_ROOT, ignore_errors=True)
    GIT_ROOT.mkdir(parents=True)
    export_worktree(WORK, ROOT)
    git("init", "-q", "-b", "main")
    git("add", "-A")
    git("commit", "-q", "-m", "rehearsal: the working tree as it is")
    git("init", "-q", "--bare", "-b", "main", str(BARE), cwd=GIT_ROOT)
    git("remote", "add", "origin", str(BARE))
    git("push", "-q", "origin", "main")
    return head()


def head() -> str:
    return git("rev-parse", "HEAD")


def commit(message: str, edit) -> str:
    """Apply edit(work_tree_path), commit everything it changed, push; returns the new sha."""
    edit(WORK)
    git("add", "-A")
    git("commit", "-q", "-m", message)
    git("push", "-q", "origin", "main")
    return head()


def revert_last() -> str:
    git("revert", "--no-edit", "HEAD")
    git("push", "-q", "origin", "main")
    return head()


def start_daemon() -> None:
    procs.start(
        "git-daemon",
        [
            "git",
            "daemon",
            "--reuseaddr",
            "--export-all",
            f"--listen={HOST}",
            f"--port={GIT_DAEMON_PORT}",
            f"--base-path={GIT_ROOT}",
            str(GIT_ROOT),
        ],
    )
