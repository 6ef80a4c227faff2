"""`make plan`: a change in one group's overlay shows up for that group only."""

from __future__ import annotations

import shutil

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
    assert diff_group(rendering, after, "none") == []
    settings = diff_settings(rendering, after)
    assert [line for line in settings if line.startswith("~")] == ["~ changed  Bundle/facefleet-apps-turn"]


def test_the_same_tree_plans_nothing(rendering):
    again = render_tree(rendering.tree)
    for group in ("edge", "cloud", "none"):
        assert diff_group(rendering, again, group) == []


def test_a_revision_exports_without_touching_the_work_tree(tmp_path):
    dest = export_revision("HEAD", tmp_path / "rev")
    assert (dest / "fleet.yaml").is_file() and (dest / "apps" / "turn" / "Chart.yaml").is_file()
    assert not (dest / ".git").exists()
    work = export_worktree(tmp_path / "work")
    assert (work / "fleet.yaml").read_text() == (ROOT / "fleet.yaml").read_text()
