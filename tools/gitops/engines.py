"""Fleet's own CLI: `fleet apply -o` builds the Bundle objects a GitRepo would create, and
`fleet test` renders one bundle (Helm inside Fleet) for one cluster, overlays included."""
from __future__ import annotations

import re
import subprocess
from pathlib import Path

import yaml

from .layout import CACHE, Target, env, tool

NO_MATCH = "no match found"

# `fleet apply` insists on a kubeconfig even with --output; this one points at a closed local port
# and is never contacted when the output goes to a file.
_KUBECONFIG = """apiVersion: v1
kind: Config
clusters: [{name: offline, cluster: {server: "https://127.0.0.1:9"}}]
users: [{name: offline, user: {token: offline}}]
contexts: [{name: offline, context: {cluster: offline, user: offline}}]
current-context: offline
"""


class EngineError(RuntimeError):
    """A Fleet or Helm invocation failed for a reason other than "no match"."""


def _offline_kubeconfig() -> Path:
    path = CACHE / "offline-kubeconfig.yaml"
    path.parent.mkdir(parents=True, exist_ok=True)
    if not path.exists() or path.read_text() != _KUBECONFIG:
        path.write_text(_KUBECONFIG)
    return path


def fleet_apply(tree: Path, repo_name: str, bundle_dirs: list[str], targets_file: Path | None = None) -> list[dict]:
    """The Bundle objects `fleet apply` makes from bundle_dirs of tree (as the GitRepo job does;
    targets_file holds the GitRepo's targets, which Fleet adds as targets and restrictions)."""
    run_env = env() | {"KUBECONFIG": str(_offline_kubeconfig())}
    extra = ["--targets-file", str(targets_file)] if targets_file else []
    proc = subprocess.run(
        # One writer at a time: bundles are printed back to back, without document separators.
        [tool("fleet"), "apply", "--bundle-creation-max-concurrency", "1", *extra, "--output", "-",
         repo_name, *bundle_dirs],
        cwd=tree, env=run_env, capture_output=True, text=True, timeout=300,
    )
    if proc.returncode != 0:
        raise EngineError(f"fleet apply failed in {tree}: {proc.stderr.strip()}")
    chunks = re.split(r"(?m)^(?=apiVersion: )", proc.stdout)
    bundles = [yaml.safe_load(chunk) for chunk in chunks if chunk.strip()]
    return sorted((b for b in bundles if b), key=lambda b: b["metadata"]["name"])


def fleet_test(tree: Path, bundle_dir: str, target: Target) -> list[dict] | None:
    """Objects Fleet deploys from bundle_dir to a cluster like target; None when nothing matches."""
    args = [tool("fleet"), "test", bundle_dir, "--group", target.cluster_group]
    for key, value in target.cluster_labels.items():
        args += ["--label", f"{key}={value}"]
    proc = subprocess.run(args, cwd=tree, env=env(), capture_output=True, text=True, timeout=300)
    if proc.returncode != 0:
        if NO_MATCH in proc.stderr:
            return None
        raise EngineError(f"fleet test {bundle_dir} ({target.name}) failed: {proc.stderr.strip()}")
    return [doc for doc in yaml.safe_load_all(proc.stdout) if doc]


def fleet_match(bundle_file: Path, target: Target) -> str | None:
    """Name of the Bundle target Fleet's matcher picks for a cluster like target (None: no match)."""
    args = [tool("fleet"), "test", "--quiet", "--bundle-file", str(bundle_file), "--group", target.cluster_group]
    for key, value in target.cluster_labels.items():
        args += ["--label", f"{key}={value}"]
    proc = subprocess.run(args, env=env(), capture_output=True, text=True, timeout=120)
    if proc.returncode != 0:
        if NO_MATCH in proc.stderr:
            return None
        raise EngineError(f"fleet test -b {bundle_file} ({target.name}) failed: {proc.stderr.strip()}")
    match = re.search(r"# Matched: (\S+)", proc.stderr)
    return match.group(1) if match else ""
