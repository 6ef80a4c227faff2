"""Edge pods land only on edge nodes; cloud pods never do. Checked against Node objects built from
apps/lib/values.yaml (the names the node checks use too), with the scheduler's own matching rules for
nodeSelector, required node affinity and NoSchedule/NoExecute taints."""

from __future__ import annotations

import pytest
from gitops_k8s import TARGETS, objects, workloads


def _nodes(groups: dict) -> dict[str, dict]:
    edge = groups["groups"]["edge"]
    label, taint = edge["nodeLabel"], edge["nodeTaint"]
    edge_label = {label["key"]: label["value"]}
    edge_taint = [{"key": taint["key"], "value": taint["value"], "effect": taint["effect"]}]
    return {
        "edge-node": {"labels": {"kubernetes.io/hostname": "edge-node"} | edge_label, "taints": edge_taint},
        "plain-node": {"labels": {"kubernetes.io/hostname": "plain-node"}, "taints": []},
        "edge-label-only": {"labels": {"kubernetes.io/hostname": "edge-label-only"} | edge_label, "taints": []},
        "edge-taint-only": {"labels": {"kubernetes.io/hostname": "edge-taint-only"}, "taints": edge_taint},
    }


def _expression(expr: dict, labels: dict) -> bool:
    key, op, values = expr["key"], expr["operator"], expr.get("values", [])
    if op == "In":
        return labels.get(key) in values
    if op == "NotIn":
        return labels.get(key) not in values
    if op == "Exists":
        return key in labels
    if op == "DoesNotExist":
        return key not in labels
    raise AssertionError(f"operator {op} not modelled")


def _tolerates(tolerations: list[dict], taint: dict) -> bool:
    for tol in tolerations:
        if tol.get("effect") not in (None, "", taint["effect"]):
            continue
        if tol.get("operator") == "Exists" and tol.get("key") in (None, taint["key"]):
            return True
        if tol.get("key") == taint["key"] and tol.get("value") == taint["value"]:
            return True
    return False


def schedulable(spec: dict, node: dict) -> bool:
    labels = node["labels"]
    if any(labels.get(k) != v for k, v in (spec.get("nodeSelector") or {}).items()):
        return False
    required = ((spec.get("affinity") or {}).get("nodeAffinity") or {}).get(
        "requiredDuringSchedulingIgnoredDuringExecution"
    )
    if required and not any(
        all(_expression(e, labels) for e in term.get("matchExpressions", [])) for term in required["nodeSelectorTerms"]
    ):
        return False
    return all(
        _tolerates(spec.get("tolerations") or [], t)
        for t in node["taints"]
        if t["effect"] in ("NoSchedule", "NoExecute")
    )


@pytest.mark.parametrize("target", TARGETS)
def test_pods_land_only_where_their_group_allows(rendering, groups, target):
    nodes = _nodes(groups)
    checked = 0
    for obj, spec in workloads(objects(rendering, target)):
        fits = {name for name, node in nodes.items() if schedulable(spec, node)}
        # Edge pods: exactly the nodes labelled edge. Cloud pods: never a node labelled or tainted edge.
        expected = {"edge-node", "edge-label-only"} if target == "edge" else {"plain-node"}
        assert fits == expected, f"{target} {obj['kind']}/{obj['metadata']['name']} fits {sorted(fits)}"
        checked += 1
    assert checked == 5


def test_the_model_itself_tells_the_cases_apart(groups):
    nodes = _nodes(groups)
    assert schedulable({}, nodes["plain-node"]) and not schedulable({}, nodes["edge-node"])
    assert schedulable({}, nodes["edge-label-only"])
