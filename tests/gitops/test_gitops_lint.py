"""Linters over what users build and run outside Fleet: compose.yaml against the Compose
specification (dclint), every Dockerfile (hadolint), the release workflow (actionlint)."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest
from gitops_paths import ROOT

from tools.gitops.layout import tool

DCLINT = ROOT / ".tools" / "dclint" / "node_modules" / ".bin" / "dclint"
WORKFLOWS = sorted((ROOT / ".github" / "workflows").glob("*.y*ml"))


def _tracked(pattern: str) -> list[Path]:
    out = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard", pattern],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return [ROOT / line for line in out.splitlines() if (ROOT / line).is_file()]


def test_compose_file_follows_the_compose_spec():
    proc = subprocess.run(
        [str(DCLINT), "--max-warnings", "0", "--color", "false", "compose.yaml"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_dclint_does_validate_the_schema(tmp_path):
    bad = tmp_path / "compose.yaml"
    bad.write_text("services:\n  a:\n    image: x:1\n    bogus_key: 1\n")
    proc = subprocess.run([str(DCLINT), "--color", "false", str(bad)], capture_output=True, text=True, timeout=120)
    assert proc.returncode != 0 and "invalid-schema" in proc.stdout


def test_compose_builds_from_the_component_dockerfiles():
    import yaml

    compose = yaml.safe_load((ROOT / "compose.yaml").read_text())
    assert compose["services"]["mongo"]["image"].startswith("docker.io/library/mongo:7.")
    for name in ("recognizer", "ui"):
        build = compose["services"][name]["build"]
        assert (build["context"], build["dockerfile"]) == (f"./{name}", "Dockerfile")


def test_every_dockerfile_passes_hadolint():
    dockerfiles = [p for p in _tracked("*Dockerfile*") if not p.name.endswith((".md", ".dockerignore"))]
    names = {str(p.relative_to(ROOT)) for p in dockerfiles}
    missing = {"recognizer/Dockerfile", "ui/Dockerfile"} - names
    assert not missing, f"compose.yaml and the release workflow build from {sorted(missing)}"
    for path in dockerfiles:
        proc = subprocess.run([tool("hadolint"), "--no-color", str(path)], capture_output=True, text=True, timeout=120)
        assert proc.returncode == 0, f"{path.relative_to(ROOT)}:\n{proc.stdout}{proc.stderr}"


def test_release_workflow_passes_actionlint():
    assert WORKFLOWS, "the release workflow is missing"
    proc = subprocess.run(
        [tool("actionlint"), "-color=false", *map(str, WORKFLOWS)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_release_workflow_builds_both_images_for_both_architectures():
    text = (ROOT / ".github" / "workflows" / "release.yaml").read_text()
    assert "platforms: linux/amd64,linux/arm64" in text
    assert re.search(r"component: \[recognizer, ui\]", text)
    assert "git push origin HEAD:main" in text


@pytest.mark.parametrize("component", ["recognizer", "ui"])
def test_release_bump_edits_exactly_one_tag_and_repository(component):
    """The workflow rewrites `  tag:` and `  repository:` lines: each must be unambiguous."""
    values = (ROOT / "apps" / component / "values.yaml").read_text()
    assert len(re.findall(r"(?m)^  tag: ", values)) == 1
    assert len(re.findall(r"(?m)^  repository: ", values)) == 1
    chart = (ROOT / "apps" / component / "Chart.yaml").read_text()
    assert len(re.findall(r"(?m)^appVersion: ", chart)) == 1


def test_release_bump_script_rewrites_tags_and_app_versions(tmp_path):
    """Run the workflow's own bump step on a copy of apps/ and render the result with Helm."""
    import shutil

    import yaml

    workflow = yaml.safe_load((ROOT / ".github" / "workflows" / "release.yaml").read_text())
    step = next(s for s in workflow["jobs"]["bump"]["steps"] if s.get("name") == "Point apps/ at the new images")
    from tools.gitops.engines import helm_dependency_build

    for component in ("recognizer", "ui", "lib"):
        shutil.copytree(
            ROOT / "apps" / component, tmp_path / "apps" / component, ignore=shutil.ignore_patterns("charts")
        )
    subprocess.run(
        ["bash", "-euo", "pipefail", "-c", step["run"].replace("git diff --stat", "true")],
        cwd=tmp_path,
        env={"PATH": "/usr/bin:/bin", "VERSION": "9.8.7", "OWNER": "acme"},
        check=True,
        timeout=60,
    )
    for component in ("recognizer", "ui"):
        chart = helm_dependency_build(tmp_path / "apps" / component)
        assert yaml.safe_load((chart / "Chart.yaml").read_text())["appVersion"] == "9.8.7"
        values = yaml.safe_load((chart / "values.yaml").read_text())
        assert values["image"] == {"repository": f"ghcr.io/acme/facefleet-{component}", "tag": "9.8.7"}
        out = subprocess.run(
            [tool("helm"), "template", "x", str(chart)], capture_output=True, text=True, check=True, timeout=60
        ).stdout
        assert f"image: ghcr.io/acme/facefleet-{component}:9.8.7" in out
