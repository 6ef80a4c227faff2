"""Fixtures for the GitOps checks: one Fleet rendering of the working tree per test session."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import yaml
from gitops_k8s import fleet_templated, merge
from gitops_paths import FLEET_SCHEMAS, ROOT

from tools.gitops.engines import helm_dependency_build
from tools.gitops.layout import BUNDLES, CACHE, groups_file
from tools.gitops.render import Rendering, render_worktree


@pytest.fixture(scope="session")
def rendering() -> Rendering:
    """Every bundle for every target, rendered by `fleet target` + `fleet deploy --dry-run` (the
    Bundles by `fleet apply`)."""
    return render_worktree(CACHE / "test-rendered")


@pytest.fixture(scope="session")
def groups() -> dict:
    return groups_file()


@pytest.fixture(scope="session")
def fleet_yamls() -> dict[str, dict]:
    return {name: yaml.safe_load((ROOT / folder / "fleet.yaml").read_text()) for name, folder in BUNDLES.items()}


@pytest.fixture(scope="session")
def overlay_files(fleet_yamls) -> dict[str, dict[str, list[Path]]]:
    """Per bundle and target customization's cluster group (edge, cloud, and home where the bundle
    has one), the values files its fleet.yaml selects (helm.valuesFiles, relative to the bundle's
    folder as Fleet reads them)."""
    return {
        name: {
            c["clusterGroup"]: [ROOT / BUNDLES[name] / f for f in c["helm"].get("valuesFiles", [])]
            for c in fy["targetCustomizations"]
        }
        for name, fy in fleet_yamls.items()
    }


@pytest.fixture(scope="session")
def overlays(fleet_yamls, overlay_files) -> dict[str, dict[str, dict]]:
    """Per bundle and cluster group (or home), the values Fleet gives the chart on top of its
    values.yaml: fleet.yaml's helm.values (templated for a cluster named after the group), then the
    target customization's values files."""
    result: dict[str, dict[str, dict]] = {}
    for name, by_group in overlay_files.items():
        top = (fleet_yamls[name].get("helm") or {}).get("values") or {}
        result[name] = {}
        for group, files in by_group.items():
            merged = fleet_templated(dict(top), group)
            for path in files:
                merged = merge(merged, yaml.safe_load(path.read_text()) or {})
            result[name][group] = merged
    return result


@pytest.fixture(scope="session")
def fleet_schemas() -> Path:
    if not FLEET_SCHEMAS.is_dir():
        pytest.skip(f"Fleet schemas not found at {FLEET_SCHEMAS} (../shared is absent)")
    return FLEET_SCHEMAS


@pytest.fixture(scope="session")
def charts(tmp_path_factory) -> Path:
    """A copy of apps/ and base/ with every chart's dependencies built, for plain `helm template`
    and `helm lint` (as an operator runs them after `helm dependency build`, which also fails when a
    committed Chart.lock is out of sync with its Chart.yaml)."""
    root = tmp_path_factory.mktemp("charts")
    for folder in ("apps", "base"):
        shutil.copytree(ROOT / folder, root / folder, ignore=shutil.ignore_patterns("charts"))
    for folder in BUNDLES.values():
        helm_dependency_build(root / ("base" if folder == "." else folder))
    return root
