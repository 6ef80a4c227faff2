"""Loads the two sources the checks read: apps/lib/values.yaml (names) and thresholds.yaml (numbers)."""

from __future__ import annotations

import copy
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

NODECHECK_DIR = Path(__file__).resolve().parent
REPO_ROOT = NODECHECK_DIR.parent.parent
# Overridable so tests (and forks) can point at another copy; defaults are the committed files.
GROUPS_FILE = Path(os.environ.get("NODECHECK_GROUPS_FILE", REPO_ROOT / "apps" / "lib" / "values.yaml"))
THRESHOLDS_FILE = NODECHECK_DIR / "thresholds.yaml"


def deep_merge(base: Mapping[str, Any], override: Mapping[str, Any]) -> dict[str, Any]:
    """``override`` wins; mappings merge key by key, everything else (lists too) is replaced."""
    merged = copy.deepcopy(dict(base))
    for key, value in override.items():
        if isinstance(value, Mapping) and isinstance(merged.get(key), Mapping):
            merged[key] = deep_merge(merged[key], value)
        else:
            merged[key] = copy.deepcopy(value)
    return merged


def load_yaml(path: Path | str) -> dict[str, Any]:
    with open(path, encoding="utf-8") as fh:
        data = yaml.safe_load(fh) or {}
    if not isinstance(data, dict):
        raise ValueError(f"{path}: expected a mapping at the top level")
    return data


def load_thresholds(
    override_file: Path | str | None = None, overrides: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    """thresholds.yaml, then an operator's override file, then in-code overrides (tests)."""
    settings = load_yaml(THRESHOLDS_FILE)
    if override_file:
        settings = deep_merge(settings, load_yaml(override_file))
    if overrides:
        settings = deep_merge(settings, overrides)
    return settings


def load_groups(path: Path | str | None = None) -> dict[str, Any]:
    """The ``groups`` mapping of apps/lib/values.yaml (edge, cloud, ...)."""
    groups = load_yaml(path or GROUPS_FILE).get("groups")
    if not isinstance(groups, dict) or not groups:
        raise ValueError(f"{path or GROUPS_FILE}: no 'groups' mapping")
    return groups


def load_kube_version(path: Path | str | None = None) -> str:
    """The Kubernetes minor version the fleet targets (apps/lib/values.yaml ``kubernetes.version``)."""
    return str(load_yaml(path or GROUPS_FILE)["kubernetes"]["version"])
