"""The repository's bundles and cluster groups: one place that the renderer and the tests share."""

from __future__ import annotations

import os
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[2]
CACHE = ROOT / ".cache" / "gitops"
TOOLS_BIN = ROOT / ".tools" / "bin"

# Short bundle name -> folder holding its fleet.yaml (the root folder is the base bundle).
BUNDLES: dict[str, str] = {
    "base": ".",
    "database": "apps/database",
    "recognizer": "apps/recognizer",
    "ui": "apps/ui",
    "turn": "apps/turn",
}
# A cluster in neither group: it must get nothing.
NONE_GROUP = "none"
NONE_CLUSTER_LABEL_VALUE = "lab"


@dataclass(frozen=True)
class Target:
    """A cluster that Fleet's targeting matches the bundles against (through the ClusterGroups)."""

    name: str  # edge, cloud or none: the rendered/ subfolder, and the Cluster's name
    cluster_labels: dict[str, str]


# The library chart's values: the single source of truth for the group, label and taint names.
GROUPS_FILE = Path("apps") / "lib" / "values.yaml"
# Where they lived before the library chart, so that `make plan` can still render older revisions.
_LEGACY_GROUPS_FILE = Path("apps") / "groups.yaml"


def groups_file(root: Path = ROOT) -> dict[str, Any]:
    """The cluster groups and the Kubernetes version, from apps/lib/values.yaml of the tree at root."""
    for rel in (GROUPS_FILE, _LEGACY_GROUPS_FILE):
        path = root / rel
        if path.is_file():
            data = yaml.safe_load(path.read_text()) or {}
            if isinstance(data.get("groups"), dict) and data["groups"]:
                return data
            raise ValueError(f"{path}: no `groups` mapping of cluster groups")
    raise FileNotFoundError(f"{root / GROUPS_FILE} is missing: it defines the cluster groups")


def targets(root: Path = ROOT) -> list[Target]:
    """One target per cluster group in apps/lib/values.yaml, plus a cluster in no group."""
    groups = groups_file(root)["groups"]
    result = []
    for name, spec in groups.items():
        label = spec["clusterLabel"]
        result.append(Target(name, {label["key"]: label["value"]}))
    key = next(iter(groups.values()))["clusterLabel"]["key"]
    result.append(Target(NONE_GROUP, {key: NONE_CLUSTER_LABEL_VALUE}))
    return result


def kube_version(root: Path = ROOT) -> str:
    """The Kubernetes version the fleet runs (major.minor.0), for Helm's capabilities."""
    return str(groups_file(root)["kubernetes"]["version"]) + ".0"


def tool(name: str) -> str:
    """Path of a tool built by mk/gitops.mk (falls back to PATH)."""
    for folder in (TOOLS_BIN, Path(sys.executable).parent):  # .tools/bin, then .venv/bin
        candidate = folder / name
        if candidate.exists():
            return str(candidate)
    found = shutil.which(name)
    if not found:
        raise FileNotFoundError(f"{name} not found: run `make gitops-tools`")
    return found


def env() -> dict[str, str]:
    """Environment for the engines: no kubeconfig of the user's, no network."""
    result = dict(os.environ)
    result.pop("KUBECONFIG", None)
    result["HELM_CACHE_HOME"] = str(CACHE / "helm" / "cache")
    result["HELM_CONFIG_HOME"] = str(CACHE / "helm" / "config")
    result["HELM_DATA_HOME"] = str(CACHE / "helm" / "data")
    return result
