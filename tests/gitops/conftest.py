"""Fixtures for the GitOps checks: one Fleet rendering of the working tree per test session."""
from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import yaml

from gitops_paths import FLEET_SCHEMAS, ROOT
from tools.gitops.engines import helm_dependency_build
from tools.gitops.layout import BUNDLES, CACHE, groups_file
from tools.gitops.render import Rendering, render_worktree



@pytest.fixture(scope="session")
def rendering() -> Rendering:
    """Every bundle for every target, rendered by `fleet target` + `fleet deploy --dry-run` (the Bundles by `fleet apply`)."""
    return render_worktree(CACHE / "test-rendered")


@pytest.fixture(scope="session")
def groups() -> dict:
    return groups_file()


@pytest.fixture(scope="session")
def fleet_yamls() -> dict[str, dict]:
    return {name: yaml.safe_load((ROOT / folder / "fleet.yaml").read_text()) for name, folder in BUNDLES.items()}


@pytest.fixture(scope="session")
def fleet_schemas() -> Path:
    if not FLEET_SCHEMAS.is_dir():
        pytest.skip(f"Fleet schemas not found at {FLEET_SCHEMAS} (../shared is absent)")
    return FLEET_SCHEMAS


@pytest.fixture(scope="session")
def charts(tmp_path_factory) -> Path:
    """A copy of apps/ and base/ with every chart's dependencies built, for plain `helm template`
    and `helm lint` (as an operator runs them after `helm dependency build`)."""
    root = tmp_path_factory.mktemp("charts")
    for folder in ("apps", "base"):
        shutil.copytree(ROOT / folder, root / folder, ignore=shutil.ignore_patterns("charts", "Chart.lock"))
    for folder in BUNDLES.values():
        helm_dependency_build(root / ("base" if folder == "." else folder))
    return root
