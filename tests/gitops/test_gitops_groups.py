"""apps/lib/values.yaml is the one source of truth for group, label and taint names: the charts read
it through the library chart and place pods by their `group` value, so nothing here compares copies.
These tests check behaviour: which values file each group's overlay selects, that plain
`helm template -f values/<group>.yaml` renders what Fleet deploys, and where the rendered pods go."""

from __future__ import annotations

import subprocess

import pytest
import yaml
from gitops_k8s import objects, workloads
from gitops_paths import ROOT

from tools.gitops.layout import BUNDLES, tool

# Fleet's bookkeeping on every object it deploys; plain Helm has none of it.
_FLEET_ANNOTATIONS = ("objectset.rio.cattle.io/id",)
_FLEET_LABELS = ("objectset.rio.cattle.io/hash",)


def test_cluster_groups_select_on_the_group_label(groups):
    docs = [d for d in yaml.safe_load_all((ROOT / "clusters" / "clustergroups.yaml").read_text()) if d]
    found = {d["metadata"]["name"]: d for d in docs}
    assert sorted(found) == sorted(groups["groups"])
    for name, spec in groups["groups"].items():
        label = spec["clusterLabel"]
        assert found[name]["metadata"]["namespace"] == "fleet-default"
        assert found[name]["spec"]["selector"] == {"matchLabels": {label["key"]: label["value"]}}


def test_each_group_overlay_is_the_charts_values_file_of_that_group(fleet_yamls, overlay_files, groups):
    for name, fy in fleet_yamls.items():
        customs = fy["targetCustomizations"]
        assert [c["clusterGroup"] for c in customs] == list(groups["groups"]), name
        for custom in customs:
            group = custom["clusterGroup"]
            assert set(custom) == {"name", "clusterGroup", "helm"} and set(custom["helm"]) == {"valuesFiles"}, name
            chart = ROOT / ("base" if name == "base" else BUNDLES[name])
            assert overlay_files[name][group] == [chart / "values" / f"{group}.yaml"], f"{name}/{group}"
            assert yaml.safe_load(overlay_files[name][group][0].read_text())["group"] == group, f"{name}/{group}"


def _without_fleet_bookkeeping(obj: dict) -> dict:
    meta = obj["metadata"]
    for field, keys in (("annotations", _FLEET_ANNOTATIONS), ("labels", _FLEET_LABELS)):
        values = {k: v for k, v in (meta.get(field) or {}).items() if k not in keys}
        if values:
            meta[field] = values
        else:
            meta.pop(field, None)
    return obj


def _by_key(objs: list[dict]) -> dict[str, dict]:
    return {f"{o['kind']}/{o['metadata']['name']}": _without_fleet_bookkeeping(o) for o in objs}


@pytest.mark.parametrize("target", ["edge", "cloud"])
@pytest.mark.parametrize("bundle", sorted(BUNDLES))
def test_plain_helm_template_with_the_group_file_renders_what_fleet_deploys(
    bundle, target, charts, rendering, fleet_yamls
):
    """What clusters/README.md tells an operator: `helm template <release> <chart> -f
    <chart>/values/<group>.yaml` gives exactly the objects Fleet deploys to that group."""
    folder = "base" if bundle == "base" else BUNDLES[bundle]
    helm = fleet_yamls[bundle]["helm"]
    proc = subprocess.run(
        [
            tool("helm"),
            "template",
            helm["releaseName"],
            str(charts / folder),
            "--namespace",
            fleet_yamls[bundle]["defaultNamespace"],
            "-f",
            str(charts / folder / "values" / f"{target}.yaml"),
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    plain = _by_key([d for d in yaml.safe_load_all(proc.stdout) if d])
    fleet = _by_key([yaml.safe_load(yaml.safe_dump(o)) for o in rendering.objects[target][bundle]])
    assert sorted(plain) == sorted(fleet)
    for key in plain:
        assert plain[key] == fleet[key], f"{bundle}/{target}: {key} differs between helm template and Fleet"


def test_a_group_outside_the_groups_file_is_refused(charts):
    """By the chart's schema first, and by the library's scheduling helper when the schema is skipped."""
    args = [tool("helm"), "template", "x", str(charts / "apps/turn"), "--set", "group=moon"]
    proc = subprocess.run(args, capture_output=True, text=True, timeout=60)
    assert proc.returncode != 0 and "/group" in proc.stderr and "'edge', 'cloud'" in proc.stderr, proc.stderr
    proc = subprocess.run(args + ["--skip-schema-validation"], capture_output=True, text=True, timeout=60)
    assert proc.returncode != 0, proc.stdout
    assert 'group "moon" is none of the cluster groups in apps/lib/values.yaml (cloud, edge)' in proc.stderr


def test_rendered_pods_use_the_groups_file_names(rendering, groups):
    edge = groups["groups"]["edge"]
    label, taint = edge["nodeLabel"], edge["nodeTaint"]
    for target in ("edge", "cloud"):
        for _obj, spec in workloads(objects(rendering, target)):
            required = spec["affinity"]["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]
            expr = required["nodeSelectorTerms"][0]["matchExpressions"][0]
            assert (expr["key"], expr["values"]) == (label["key"], [label["value"]])
            tolerations = spec.get("tolerations", [])
            if target == "edge":
                assert tolerations == [
                    {"key": taint["key"], "operator": "Equal", "value": taint["value"], "effect": taint["effect"]}
                ]
            else:
                assert tolerations == []
    quota = next(o for o in rendering.objects["edge"]["base"] if o["kind"] == "ResourceQuota")
    assert quota["metadata"]["labels"][edge["clusterLabel"]["key"]] == "edge"
