"""`make plan`: a change in one group's overlay shows up for that group only; each group's section
names its role for fleet-wide users (the home of users, or a replica of it)."""

from __future__ import annotations

import shutil

import yaml
from gitops_paths import ROOT

from tools.gitops.layout import CACHE
from tools.gitops.plan import diff_group, diff_settings
from tools.gitops.render import render_tree
from tools.gitops.tree import export_revision, export_worktree


def test_an_edge_overlay_change_plans_for_edge_only(rendering):
    changed = CACHE / "tree-test-plan-changed"
    shutil.rmtree(changed, ignore_errors=True)
    shutil.copytree(rendering.tree, changed)
    edge_values = changed / "apps" / "turn" / "values" / "edge.yaml"
    text = edge_values.read_text()
    assert text.count("relayPortMax: 49175") == 1
    edge_values.write_text(text.replace("relayPortMax: 49175", "relayPortMax: 49179"))
    after = render_tree(changed)
    edge = diff_group(rendering, after, "edge")
    assert "~ changed  turn: Service/facefleet/facefleet-turn" in edge
    assert any(line.strip() == "+  name: relay-49179" or "relay-49179" in line for line in edge)
    assert "~ changed  turn: Deployment/facefleet/facefleet-turn" in edge
    assert diff_group(rendering, after, "cloud") == []
    assert diff_group(rendering, after, "home") == []
    assert diff_group(rendering, after, "none") == []
    settings = diff_settings(rendering, after)
    assert [line for line in settings if line.startswith("~")] == ["~ changed  Bundle/facefleet-apps-turn"]


def test_the_same_tree_plans_nothing(rendering):
    again = render_tree(rendering.tree)
    for group in ("edge", "cloud", "home", "none"):
        assert diff_group(rendering, again, group) == []


def test_a_tree_without_the_home_is_planned_for_the_same_clusters(rendering):
    """An older tree (before fleet-wide users had a home) is rendered for the working tree's
    clusters: its home cluster took the cloud customization there, so the plan shows what becomes
    of that cluster (its Ingress gains the sync route, its recognizer stops being a replica), and
    nothing for the other groups."""
    older = CACHE / "tree-test-plan-no-home"
    shutil.rmtree(older, ignore_errors=True)
    shutil.copytree(rendering.tree, older)
    for chart in ("recognizer", "ui"):
        fleet_yaml = older / "apps" / chart / "fleet.yaml"
        data = yaml.safe_load(fleet_yaml.read_text())
        data["targetCustomizations"] = [c for c in data["targetCustomizations"] if c["clusterGroup"] != "home"]
        fleet_yaml.write_text(yaml.safe_dump(data, sort_keys=False))
    before = render_tree(older, cluster_targets=list(rendering.targets.values()))
    home = diff_group(before, rendering, "home")
    changed = sorted(line for line in home if line[:1] in "+-~")
    assert changed == [
        "~ changed  recognizer: Deployment/facefleet/facefleet-recognizer",
        "~ changed  recognizer: NetworkPolicy/facefleet/facefleet-recognizer",
        "~ changed  ui: Ingress/facefleet/facefleet-ui",
    ], home
    assert any("/v1/sync/" in line for line in home)
    for group in ("edge", "cloud", "none"):
        assert diff_group(before, rendering, group) == [], group


def test_each_section_names_the_role(rendering):
    described = {name: target.describe() for name, target in rendering.targets.items()}
    assert described == {
        "edge": "role: replica of the home; labels facefleet.io/group=edge",
        "cloud": "role: replica of the home; labels facefleet.io/group=cloud",
        "home": "role: home of users; labels facefleet.io/group=cloud, facefleet.io/home=true",
        "none": "in no group, gets nothing; labels facefleet.io/group=lab",
    }


def test_a_revision_exports_without_touching_the_work_tree(tmp_path):
    dest = export_revision("HEAD", tmp_path / "rev")
    assert (dest / "fleet.yaml").is_file() and (dest / "apps" / "turn" / "Chart.yaml").is_file()
    assert not (dest / ".git").exists()
    work = export_worktree(tmp_path / "work")
    assert (work / "fleet.yaml").read_text() == (ROOT / "fleet.yaml").read_text()
