"""apps/lib/values.yaml is the one source of truth for group, label and taint names: the charts read
it through the library chart and place pods by their `group` value, so nothing here compares copies.
These tests check behaviour: which values file each group's overlay selects, that plain
`helm template -f values/<group>.yaml` renders what Fleet deploys, and where the rendered pods go."""

from __future__ import annotations

import subprocess

import pytest
import yaml
from gitops_k8s import TARGETS, objects, workloads
from gitops_paths import ROOT

from tools.gitops.layout import BUNDLES, tool

# Fleet's bookkeeping on every object it deploys; plain Helm has none of it.
_FLEET_ANNOTATIONS = ("objectset.rio.cattle.io/id",)
_FLEET_LABELS = ("objectset.rio.cattle.io/hash",)


def test_cluster_groups_select_on_the_group_label(groups):
    docs = [d for d in yaml.safe_load_all((ROOT / "clusters" / "clustergroups.yaml").read_text()) if d]
    found = {d["metadata"]["name"]: d for d in docs}
    home = groups["home"]
    assert sorted(found) == sorted([*groups["groups"], home["clusterGroup"]])
    for name, spec in groups["groups"].items():
        label = spec["clusterLabel"]
        assert found[name]["metadata"]["namespace"] == "fleet-default"
        assert found[name]["spec"]["selector"] == {"matchLabels": {label["key"]: label["value"]}}
    # The home of users: a cluster of its group (cloud) that carries the home label as well.
    group_label = groups["groups"][home["group"]]["clusterLabel"]
    assert found[home["clusterGroup"]]["metadata"]["namespace"] == "fleet-default"
    assert found[home["clusterGroup"]]["spec"]["selector"] == {
        "matchLabels": {group_label["key"]: group_label["value"], home["clusterLabel"]["key"]: "true"}
    }


def test_each_group_overlay_is_the_charts_values_file_of_that_group(fleet_yamls, overlay_files, groups):
    """edge and cloud select their group's file; where a chart has values/home.yaml, a `home`
    customization comes first (Fleet uses the first match, and the home is a cloud cluster) and
    selects the cloud file and home.yaml over it."""
    home = groups["home"]
    for name, fy in fleet_yamls.items():
        customs = fy["targetCustomizations"]
        chart = ROOT / ("base" if name == "base" else BUNDLES[name])
        has_home = (chart / "values" / "home.yaml").is_file()
        want = ([home["clusterGroup"]] if has_home else []) + list(groups["groups"])
        assert [c["clusterGroup"] for c in customs] == want, name
        for custom in customs:
            group = custom["clusterGroup"]
            assert custom["name"] == group, name
            assert set(custom) == {"name", "clusterGroup", "helm"} and set(custom["helm"]) == {"valuesFiles"}, name
            if group == home["clusterGroup"]:
                files = [chart / "values" / f"{home['group']}.yaml", chart / "values" / "home.yaml"]
                assert overlay_files[name][group] == files, f"{name}/{group}"
                assert yaml.safe_load(files[1].read_text()) == {"role": "home"}, f"{name}: home.yaml sets the role only"
                continue
            assert overlay_files[name][group] == [chart / "values" / f"{group}.yaml"], f"{name}/{group}"
            assert yaml.safe_load(overlay_files[name][group][0].read_text())["group"] == group, f"{name}/{group}"


def test_only_the_home_differs_by_role(overlays):
    """Every chart that knows the role of fleet-wide users is a replica unless home.yaml says home."""
    for name, by_group in overlays.items():
        chart = ROOT / ("base" if name == "base" else BUNDLES[name])
        defaults = yaml.safe_load((chart / "values.yaml").read_text())
        if "role" not in defaults:
            assert "home" not in by_group, name
            continue
        assert defaults["role"] == "replica", name
        for group, values in by_group.items():
            assert values.get("role", defaults["role"]) == ("home" if group == "home" else "replica"), f"{name}/{group}"


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


def _customization(fleet_yaml: dict, target: str) -> dict:
    """The target customization Fleet applies to a cluster of target: the first that matches (the
    home is in the cloud group too)."""
    matching = {"edge": {"edge"}, "cloud": {"cloud"}, "home": {"home", "cloud"}}[target]
    return next(c for c in fleet_yaml["targetCustomizations"] if c["clusterGroup"] in matching)


@pytest.mark.parametrize("target", TARGETS)
@pytest.mark.parametrize("bundle", sorted(BUNDLES))
def test_plain_helm_template_with_the_group_file_renders_what_fleet_deploys(
    bundle, target, charts, rendering, fleet_yamls
):
    """What clusters/README.md tells an operator: `helm template <release> <chart> -f
    <chart>/values/<group>.yaml` (the home: `-f values/cloud.yaml -f values/home.yaml`; the
    recognizer: `--set site=<cluster>`, which Fleet templates from the cluster's name) gives exactly
    the objects Fleet deploys to that group."""
    folder = "base" if bundle == "base" else BUNDLES[bundle]
    helm = fleet_yamls[bundle]["helm"]
    files = [a for f in _customization(fleet_yamls[bundle], target)["helm"]["valuesFiles"] for a in ("-f", f)]
    templated = [k for k, v in (helm.get("values") or {}).items() if isinstance(v, str) and "${" in v]
    proc = subprocess.run(
        [
            tool("helm"),
            "template",
            helm["releaseName"],
            str(charts / folder),
            "--namespace",
            fleet_yamls[bundle]["defaultNamespace"],
            *files,
            *[a for k in templated for a in ("--set", f"{k}={target}")],
        ],
        cwd=charts / BUNDLES[bundle],  # valuesFiles are relative to the fleet.yaml
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
    for target in TARGETS:
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


def test_the_site_is_the_clusters_label_or_else_its_name(rendering, tmp_path):
    """The recognizer's FACEFLEET_SITE comes from Fleet's templating in apps/recognizer/fleet.yaml:
    the cluster's label facefleet.io/site where it has one (a site named apart from its Fleet
    cluster, e.g. a generated name), else the cluster's name (what every golden shows)."""
    from tools.gitops.engines import fleet_deploy_dry_run, fleet_target
    from tools.gitops.fakeapi import serve
    from tools.gitops.layout import REPLICA, Target, kube_version
    from tools.gitops.render import cluster_store, workspace

    bundle = next(b for b in rendering.bundles if b["metadata"]["labels"]["facefleet.io/bundle"] == "recognizer")
    cluster = Target("c-m-4x7kq", {"facefleet.io/group": "edge", "facefleet.io/site": "line-3"}, "edge", REPLICA)
    with serve(cluster_store(rendering.tree, [cluster]), tmp_path / "kubeconfig.yaml") as kubeconfig:
        content, deployments = fleet_target(bundle, workspace(rendering.tree), kubeconfig, tmp_path)
    objs = fleet_deploy_dry_run(content, deployments[cluster.name], tmp_path, kube_version())
    spec = next(s for o, s in workloads(objs) if o["metadata"]["name"] == "facefleet-recognizer")
    env = {e["name"]: e.get("value") for e in spec["containers"][0]["env"]}
    assert env["FACEFLEET_SITE"] == "line-3"
