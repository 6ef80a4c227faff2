"""Chart appVersion, image tags and the Python packages' versions agree (the release workflow bumps
them together), so what a cluster runs is what the repository says."""

from __future__ import annotations

import tomllib

import pytest
import yaml
from gitops_paths import ROOT


def _package_version(folder: str) -> str:
    return tomllib.loads((ROOT / folder / "pyproject.toml").read_text())["project"]["version"]


@pytest.mark.parametrize("component", ["recognizer", "ui"])
def test_app_version_and_image_tag_equal_the_package_version(component):
    version = _package_version(component)
    chart = yaml.safe_load((ROOT / "apps" / component / "Chart.yaml").read_text())
    values = yaml.safe_load((ROOT / "apps" / component / "values.yaml").read_text())
    assert chart["appVersion"] == version
    assert values["image"]["tag"] == version


def test_both_packages_release_together():
    assert _package_version("recognizer") == _package_version("ui")


def test_no_overlay_overrides_the_image_tag(overlays):
    for name, by_group in overlays.items():
        for group, values in by_group.items():
            assert "image" not in values, f"{name}/{group}: tags live in values.yaml"
