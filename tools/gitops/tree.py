"""Copies of the repository as Fleet's GitRepo would clone it: tracked files only, no caches."""

from __future__ import annotations

import io
import shutil
import subprocess
import tarfile
from pathlib import Path

from .layout import ROOT


def export_worktree(dest: Path, root: Path = ROOT) -> Path:
    """Copy the working tree's tracked and untracked-but-not-ignored files into dest (fresh)."""
    out = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=root,
        check=True,
        capture_output=True,
    ).stdout.decode()
    if dest.exists():
        shutil.rmtree(dest)
    dest.mkdir(parents=True)
    for rel in sorted(set(filter(None, out.split("\0")))):
        src = root / rel
        if not src.is_file() or src.is_symlink():
            continue  # deleted in the working tree, or a link Fleet would refuse anyway
        target = dest / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(src, target)
    return dest


def export_revision(rev: str, dest: Path, root: Path = ROOT) -> Path:
    """Extract the files of git revision rev into dest (fresh), without touching the work tree."""
    data = subprocess.run(["git", "archive", "--format=tar", rev], cwd=root, check=True, capture_output=True).stdout
    if dest.exists():
        shutil.rmtree(dest)
    dest.mkdir(parents=True)
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        tar.extractall(dest, filter="data")
    return dest
