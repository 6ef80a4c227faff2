"""Fleet's own CLI, as the GitRepo job, the controller and the agent use it:

- `fleet apply -o` builds the Bundle objects a GitRepo creates (helm dependency update included);
- `fleet target` runs the controller's targeting for one Bundle against the Clusters and
  ClusterGroups of an API server (tools.gitops.fakeapi serves them) and prints the Content and a
  BundleDeployment per matched cluster (overlays merged, cluster labels substituted into values);
- `fleet deploy --dry-run` renders one BundleDeployment with Helm inside Fleet, as the agent would.
"""

from __future__ import annotations

import os
import re
import subprocess
import threading
from pathlib import Path
from typing import Any

import yaml

from .layout import CACHE, env, tool

# Label Fleet puts on a BundleDeployment to name its cluster.
CLUSTER_LABEL = "fleet.cattle.io/cluster"

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
    """A Fleet or Helm invocation failed."""


def _offline_kubeconfig() -> Path:
    path = CACHE / "offline-kubeconfig.yaml"
    path.parent.mkdir(parents=True, exist_ok=True)
    if not path.exists() or path.read_text() != _KUBECONFIG:
        path.write_text(_KUBECONFIG)
    return path


def _run(args: list[str], what: str, cwd: Path | None = None, extra_env: dict[str, str] | None = None) -> str:
    proc = subprocess.run(args, cwd=cwd, env=env() | (extra_env or {}), capture_output=True, text=True, timeout=300)
    if proc.returncode != 0:
        raise EngineError(f"{what} failed: {proc.stderr.strip()}")
    return proc.stdout


def fleet_apply(
    tree: Path, repo_name: str, bundle_dirs: list[str], targets_file: Path | None = None
) -> list[dict[str, Any]]:
    """The Bundle objects `fleet apply` makes from bundle_dirs of tree (as the GitRepo job does;
    targets_file holds the GitRepo's targets, which Fleet adds as targets and restrictions)."""
    extra = ["--targets-file", str(targets_file)] if targets_file else []
    # To a file, not stdout: `helm dependency update` inside Fleet prints its progress there.
    output = CACHE / f"fleet-apply-{tree.name}-{os.getpid()}-{threading.get_ident()}.yaml"
    output.parent.mkdir(parents=True, exist_ok=True)
    # One writer at a time: bundles are printed back to back, without document separators.
    args = [
        tool("fleet"),
        "apply",
        "--bundle-creation-max-concurrency",
        "1",
        *extra,
        "--output",
        str(output),
        repo_name,
        *bundle_dirs,
    ]
    _run(args, f"fleet apply in {tree}", cwd=tree, extra_env={"KUBECONFIG": str(_offline_kubeconfig())})
    try:
        out = output.read_text()
    finally:
        output.unlink(missing_ok=True)
    chunks = re.split(r"(?m)^(?=apiVersion: )", out)
    bundles = [yaml.safe_load(chunk) for chunk in chunks if chunk.strip()]
    return sorted((b for b in bundles if b), key=lambda b: b["metadata"]["name"])


def fleet_target(
    bundle: dict[str, Any], namespace: str, kubeconfig: Path, workdir: Path
) -> tuple[dict[str, Any], dict[str, dict[str, Any]]]:
    """The Content and, by cluster name, the BundleDeployments the controller makes of bundle for
    the clusters in namespace (a cluster that matches no target is absent)."""
    name = bundle["metadata"]["name"]
    bundle_file = workdir / f"{name}.bundle.yaml"
    bundle_file.write_text(yaml.safe_dump(bundle))
    out = _run(
        [
            tool("fleet"),
            "target",
            "--bundle-file",
            str(bundle_file),
            "--namespace",
            namespace,
            "--kubeconfig",
            str(kubeconfig),
        ],
        f"fleet target {name}",
    )
    docs = [d for d in yaml.safe_load_all(out) if d]
    contents = [d for d in docs if d.get("kind") == "Content"]
    if len(contents) != 1:
        raise EngineError(f"fleet target {name}: expected one Content, got {len(contents)}")
    deployments = {d["metadata"]["labels"][CLUSTER_LABEL]: d for d in docs if d.get("kind") == "BundleDeployment"}
    return contents[0], deployments


def fleet_deploy_dry_run(
    content: dict[str, Any], deployment: dict[str, Any], workdir: Path, kube_version: str
) -> list[dict[str, Any]]:
    """The objects the agent would deploy for one BundleDeployment (`fleet deploy --dry-run`)."""
    cluster = deployment["metadata"]["labels"][CLUSTER_LABEL]
    name = deployment["metadata"]["name"]
    input_file = workdir / f"{name}.{cluster}.deploy.yaml"
    input_file.write_text(yaml.safe_dump_all([content, deployment]))
    out = _run(
        [tool("fleet"), "deploy", "--dry-run", "--input-file", str(input_file), "--kube-version", kube_version],
        f"fleet deploy --dry-run {name} ({cluster})",
    )
    objects = yaml.safe_load(out)
    if not isinstance(objects, list):
        raise EngineError(f"fleet deploy --dry-run {name} ({cluster}): expected a list of objects")
    return objects


def helm_dependency_build(chart: Path) -> Path:
    """Build chart's charts/ from its Chart.yaml dependencies (the library), as Fleet does before
    it packs a bundle; plain `helm template` of a chart needs this first."""
    _run([tool("helm"), "dependency", "build", str(chart)], f"helm dependency build {chart}")
    return chart
