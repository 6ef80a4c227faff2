"""apps/groups.yaml is the single source of truth for group, label and taint names: the
ClusterGroups, the fleet.yaml overlays and the rendered pods must all use exactly its values."""
from __future__ import annotations

import yaml

from gitops_paths import ROOT
from gitops_k8s import objects, workloads


def test_cluster_groups_select_on_the_group_label(groups):
    docs = [d for d in yaml.safe_load_all((ROOT / "clusters" / "clustergroups.yaml").read_text()) if d]
    found = {d["metadata"]["name"]: d for d in docs}
    assert sorted(found) == sorted(groups["groups"])
    for name, spec in groups["groups"].items():
        label = spec["clusterLabel"]
        assert found[name]["metadata"]["namespace"] == "fleet-default"
        assert found[name]["spec"]["selector"] == {"matchLabels": {label["key"]: label["value"]}}


def test_overlays_target_exactly_the_groups(fleet_yamls, groups):
    for name, fy in fleet_yamls.items():
        customs = fy["targetCustomizations"]
        assert [c["clusterGroup"] for c in customs] == list(groups["groups"]), name
        assert all(set(c) <= {"name", "clusterGroup", "helm"} for c in customs), name


def test_overlay_scheduling_values_are_the_groups_file_names(fleet_yamls, groups):
    edge = groups["groups"]["edge"]
    for name, fy in fleet_yamls.items():
        for custom in fy["targetCustomizations"]:
            values = custom["helm"]["values"]
            if "scheduling" not in values:
                continue
            sched = values["scheduling"]
            assert sched["nodeLabel"] == edge["nodeLabel"], name
            assert sched["nodeTaint"] == edge["nodeTaint"], name
            assert sched["mode"] == ("edgeNodes" if custom["clusterGroup"] == "edge" else "notEdgeNodes")


def test_rendered_pods_use_the_groups_file_names(rendering, groups):
    edge = groups["groups"]["edge"]
    label, taint = edge["nodeLabel"], edge["nodeTaint"]
    for target in ("edge", "cloud"):
        for obj, spec in workloads(objects(rendering, target)):
            terms = spec["affinity"]["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]["nodeSelectorTerms"]
            expr = terms[0]["matchExpressions"][0]
            assert (expr["key"], expr["values"]) == (label["key"], [label["value"]])
            tolerations = spec.get("tolerations", [])
            if target == "edge":
                assert tolerations == [{"key": taint["key"], "operator": "Equal", "value": taint["value"],
                                        "effect": taint["effect"]}]
            else:
                assert tolerations == []
    quota = next(o for o in rendering.objects["edge"]["base"] if o["kind"] == "ResourceQuota")
    assert quota["metadata"]["labels"][edge["clusterLabel"]["key"]] == "edge"


def test_chart_defaults_use_the_groups_file_names(groups):
    edge = groups["groups"]["edge"]
    for chart in ("database", "recognizer", "ui", "turn"):
        values = yaml.safe_load((ROOT / "apps" / chart / "values.yaml").read_text())
        assert values["scheduling"]["nodeLabel"] == edge["nodeLabel"], chart
        assert values["scheduling"]["nodeTaint"] == edge["nodeTaint"], chart
