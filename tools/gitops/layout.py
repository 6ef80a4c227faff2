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


HOME = "home"
REPLICA = "replica"


@dataclass(frozen=True)
class Target:
    """A cluster that Fleet's targeting matches the bundles against (through the ClusterGroups)."""

    name: str  # edge, cloud, home or none: the rendered/ subfolder, and the Cluster's name
    cluster_labels: dict[str, str]
    group: str | None = None  # the cluster group it is in (None: in none)
    role: str | None = None  # fleet-wide users: HOME or REPLICA (None: gets nothing)

    def describe(self) -> str:
        """The target's role for fleet-wide users and its cluster labels, for `make plan`."""
        labels = ", ".join(f"{k}={v}" for k, v in self.cluster_labels.items())
        if self.group is None:
            return f"in no group, gets nothing; labels {labels}"
        role = "home of users" if self.role == HOME else "replica of the home"
        return f"role: {role}; labels {labels}"


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
    """One target per cluster group in apps/lib/values.yaml (each a replica of the home of users),
    the home (a cluster of its group that carries the home label too; trees from before fleet-wide
    users have none), and a cluster in no group."""
    data = groups_file(root)
    groups = data["groups"]
    result = []
    for name, spec in groups.items():
        label = spec["clusterLabel"]
        result.append(Target(name, {label["key"]: label["value"]}, group=name, role=REPLICA))
    if home := data.get("home"):
        group_label = groups[home["group"]]["clusterLabel"]
        labels = {group_label["key"]: group_label["value"], home["clusterLabel"]["key"]: home["clusterLabel"]["value"]}
        result.append(Target(home["clusterGroup"], labels, group=home["group"], role=HOME))
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
