"""The Bundles a GitRepo creates from this repository: which, with which files, in which order."""

from __future__ import annotations

import gzip
import json

import pytest
import yaml
from gitops_k8s import TARGETS
from gitops_paths import ROOT

# Exactly the files each Bundle carries: anything else (compose.yaml, workflows, bench results,
# values/<group>.yaml, which Fleet reads into the Bundle's values, ...) swept into a bundle fails here.
# charts/ and Chart.lock are what Fleet's `helm dependency update` builds from the library chart
# (the root .fleetignore drops *.lock from the base bundle; Helm needs only charts/).
LIBRARY = "charts/facefleet-lib-0.1.0.tgz"
CHART_FILES = ["Chart.lock", "Chart.yaml", LIBRARY, "values.schema.json", "values.yaml"]
EXPECTED_FILES = {
    "base": [
        f"base/{f}"
        for f in [
            "Chart.yaml",
            LIBRARY,
            "values.schema.json",
            "values.yaml",
            "templates/networkpolicy.yaml",
            "templates/quota.yaml",
        ]
    ],
    "database": CHART_FILES
    + [
        "templates/_engine.tpl",
        "templates/backup.yaml",
        "templates/networkpolicy.yaml",
        "templates/pdb.yaml",
        "templates/service.yaml",
        "templates/statefulset.yaml",
    ],
    "recognizer": CHART_FILES + ["templates/deployment.yaml", "templates/networkpolicy.yaml", "templates/scaling.yaml"],
    "ui": CHART_FILES
    + ["templates/deployment.yaml", "templates/ingress.yaml", "templates/networkpolicy.yaml", "templates/scaling.yaml"],
    "turn": CHART_FILES
    + ["templates/_checks.tpl", "templates/deployment.yaml", "templates/networkpolicy.yaml", "templates/service.yaml"],
}
FLEET_SIZE_LIMIT = 1_000_000  # bytes, gzipped: well under etcd's object limit


def _by_label(rendering) -> dict[str, dict]:
    return {b["metadata"]["labels"]["facefleet.io/bundle"]: b for b in rendering.bundles}


def test_gitrepo_scan_finds_exactly_the_five_bundles(rendering):
    bundles = _by_label(rendering)
    assert sorted(bundles) == sorted(EXPECTED_FILES)
    assert len(rendering.bundles) == len(EXPECTED_FILES), "a stray fleet.yaml makes an extra bundle"
    assert bundles["base"]["metadata"]["name"] == "facefleet"
    assert bundles["ui"]["metadata"]["name"] == "facefleet-apps-ui"


@pytest.mark.parametrize("bundle", sorted(EXPECTED_FILES))
def test_bundle_carries_exactly_its_files(rendering, bundle):
    files = sorted(r["name"] for r in _by_label(rendering)[bundle]["spec"]["resources"])
    assert files == sorted(EXPECTED_FILES[bundle])


@pytest.mark.parametrize("bundle", sorted(EXPECTED_FILES))
def test_bundle_stays_under_fleet_size_limit(rendering, bundle):
    size = len(gzip.compress(json.dumps(_by_label(rendering)[bundle]).encode()))
    assert size < FLEET_SIZE_LIMIT, f"{bundle}: {size} bytes gzipped"


def test_groups_file_and_repo_files_stay_out_of_every_bundle(rendering):
    names = {r["name"] for b in rendering.bundles for r in b["spec"]["resources"]}
    for stray in (
        "values/edge.yaml",
        "values/cloud.yaml",
        "lib/values.yaml",
        "compose.yaml",
        "gitrepo.yaml",
        "clustergroups.yaml",
        "Makefile",
        "release.yaml",
    ):
        assert not any(n.endswith(stray) for n in names), stray


def test_depends_on_uses_label_selectors_only_and_orders_the_chain(rendering):
    bundles = _by_label(rendering)
    edges = {}
    for name, bundle in bundles.items():
        deps = bundle["spec"].get("dependsOn") or []
        for dep in deps:
            assert set(dep) == {"selector"}, f"{name}: dependsOn by name breaks with another GitRepo name"
        targets = []
        for dep in deps:
            wanted = dep["selector"]["matchLabels"]
            matched = [n for n, b in bundles.items() if wanted.items() <= b["metadata"]["labels"].items()]
            assert len(matched) == 1, f"{name}: selector {wanted} matches {matched}"
            targets += matched
        edges[name] = set(targets)
    assert edges == {
        "base": set(),
        "database": {"base"},
        "recognizer": {"database"},
        "ui": {"recognizer", "turn"},
        "turn": {"base"},
    }


def test_none_cluster_gets_nothing(rendering):
    assert rendering.objects["none"] and all(v is None for v in rendering.objects["none"].values())


@pytest.mark.parametrize("target", TARGETS)
def test_each_group_gets_every_bundle(rendering, target):
    for bundle, objs in rendering.objects[target].items():
        assert objs, f"{bundle} deploys nothing to {target}"


def test_gitrepo_targets_only_the_two_groups(groups):
    gitrepo = yaml.safe_load((ROOT / "clusters" / "gitrepo.yaml").read_text())
    assert gitrepo["spec"]["branch"] == "main"
    assert sorted(t["clusterGroup"] for t in gitrepo["spec"]["targets"]) == sorted(groups["groups"])
    assert all(set(t) <= {"name", "clusterGroup"} for t in gitrepo["spec"]["targets"])


def _fleet_limit(count: int, value) -> int:
    """Fleet's own rounding of maxUnavailable (internal/cmd/controller/target/status.go, limit())."""
    if isinstance(value, int):
        return max(0, min(value, count))
    percent = float(value.rstrip("%"))
    result = int(count * percent) // 100
    return 1 if result <= 0 else min(result, count)


def test_rollout_strategy_is_shared_and_never_waits_for_offline_edge_clusters(fleet_yamls):
    strategies = {name: fy.get("rolloutStrategy") for name, fy in fleet_yamls.items()}
    first = strategies["base"]
    assert all(s == first for s in strategies.values()), "every bundle rolls out alike"
    assert first["maxUnavailable"] == "100%"
    edge_parts = [p for p in first["partitions"] if p.get("clusterGroup") == "edge"]
    assert len(edge_parts) == 1
    for part in first["partitions"]:
        # Any partition that can hold edge clusters must tolerate all of them being offline.
        if part.get("clusterGroup") in (None, "edge") or part.get("clusterSelector"):
            for clusters in (1, 2, 3, 7, 10, 50, 300):
                assert _fleet_limit(clusters, part["maxUnavailable"]) == clusters, part
    # A partition is "unavailable" only when its unavailable count exceeds its limit.
    for clusters in (1, 2, 10, 300):
        assert not clusters > _fleet_limit(clusters, edge_parts[0]["maxUnavailable"])


def test_base_bundle_labels_the_namespace_restricted(fleet_yamls):
    base = fleet_yamls["base"]
    assert base["defaultNamespace"] == "facefleet"
    for mode in ("enforce", "audit", "warn"):
        assert base["namespaceLabels"][f"pod-security.kubernetes.io/{mode}"] == "restricted"
    assert all(fy["defaultNamespace"] == "facefleet" for fy in fleet_yamls.values())


@pytest.mark.parametrize("target", TARGETS)
def test_every_namespaced_object_lands_in_facefleet(rendering, target):
    from gitops_k8s import objects

    for obj in objects(rendering, target):
        assert obj["metadata"].get("namespace") == "facefleet", obj["metadata"]["name"]


def test_compare_patches_name_rendered_objects_only(rendering, fleet_yamls):
    from gitops_k8s import objects

    rendered = {(o["kind"], o["metadata"]["name"]) for t in TARGETS for o in objects(rendering, t)}
    patches = [p for fy in fleet_yamls.values() for p in (fy.get("diff") or {}).get("comparePatches", [])]
    assert patches, "the StatefulSet's volumeClaimTemplates need one"
    for patch in patches:
        assert (patch["kind"], patch["name"]) in rendered, patch
        assert "/spec/replicas" not in patch.get("jsonPointers", []), "drop spec.replicas instead (HPA)"


def test_every_chart_takes_its_helpers_from_the_library_chart():
    """One copy of the helpers: the library chart, listed as a dependency by every chart; no chart
    defines a facefleet.* template of its own; each carries the library packaged (committed, equal to
    apps/lib) and tells Fleet not to rebuild it."""
    import re

    from tools.gitops import vendor
    from tools.gitops.layout import BUNDLES

    library = yaml.safe_load((ROOT / "apps" / "lib" / "Chart.yaml").read_text())
    assert library["type"] == "library"
    for name, folder in BUNDLES.items():
        chart = ROOT / ("base" if folder == "." else folder)
        deps = yaml.safe_load((chart / "Chart.yaml").read_text()).get("dependencies") or []
        assert [(d["name"], d["version"]) for d in deps] == [(library["name"], library["version"])], name
        assert (chart / deps[0]["repository"].removeprefix("file://")).resolve() == (ROOT / "apps" / "lib"), name
        for template in (chart / "templates").glob("*"):
            assert not re.search(r'define\s+"facefleet\.', template.read_text()), template
        fleet_yaml = yaml.safe_load((ROOT / folder / "fleet.yaml").read_text())
        assert fleet_yaml["helm"].get("disableDependencyUpdate") is True, name
        package = vendor.package_path(chart)
        assert package.is_file(), f"{name}: {package} missing: run make vendor-lib"
        assert not vendor.differences(package), f"{name}: {package} differs from apps/lib: run make vendor-lib"


def test_bundles_are_the_same_in_every_gitrepo_job(tmp_path):
    """Every GitRepo job clones afresh, so its files carry new modification times; the Bundles must
    come out byte-identical all the same, or every commit would redeploy every bundle everywhere."""
    import os
    import time

    from tools.gitops.engines import fleet_apply
    from tools.gitops.tree import export_worktree

    trees = [export_worktree(tmp_path / f"clone-{i}") for i in range(2)]
    later = time.time() + 3600
    for path in trees[1].rglob("*"):
        os.utime(path, (later, later), follow_symlinks=False)
    runs = [fleet_apply(tree, "facefleet", ["."]) for tree in trees]
    files = [{b["metadata"]["name"]: b["spec"]["resources"] for b in bundles} for bundles in runs]
    for name in files[0]:
        changed = [r["name"] for r, s in zip(files[0][name], files[1][name], strict=True) if r != s]
        assert not changed, f"{name}: {changed} differ between two fleet apply runs of the same tree"


def test_gitrepo_targets_restrict_every_bundle_per_fleets_targeting(rendering, tmp_path):
    """With the GitRepo's targets added the way Fleet's GitRepo job adds them (targets and
    restrictions), the controller's targeting (`fleet target`) makes a BundleDeployment of every
    bundle for the edge, the cloud and the home cluster and none for a cluster in no group (each
    cluster on its own, as tools.gitops.render targets them)."""
    from tools.gitops.engines import fleet_apply, fleet_target
    from tools.gitops.fakeapi import serve
    from tools.gitops.layout import targets
    from tools.gitops.render import cluster_store, workspace

    gitrepo = yaml.safe_load((ROOT / "clusters" / "gitrepo.yaml").read_text())
    targets_file = tmp_path / "targets.yaml"
    gitrepo_targets = gitrepo["spec"]["targets"]
    targets_file.write_text(yaml.safe_dump({"targets": gitrepo_targets, "targetRestrictions": gitrepo_targets}))
    bundles = fleet_apply(rendering.tree, "facefleet", ["."], targets_file)
    assert len(bundles) == len(EXPECTED_FILES)
    targeted: dict[str, set[str]] = {}
    for target in targets(rendering.tree):
        with serve(cluster_store(rendering.tree, [target]), tmp_path / f"kubeconfig-{target.name}.yaml") as kubeconfig:
            for bundle in bundles:
                _, deployments = fleet_target(bundle, workspace(rendering.tree), kubeconfig, tmp_path)
                targeted.setdefault(bundle["metadata"]["name"], set()).update(deployments)
    assert len(targeted) == len(EXPECTED_FILES)
    for name, clusters in targeted.items():
        assert sorted(clusters) == ["cloud", "edge", "home"], name


@pytest.mark.shared
def test_bundles_validate_against_the_fleet_bundle_crd(rendering, fleet_schemas):
    import jsonschema

    schema = json.loads((fleet_schemas / "jsonschema-strict" / "bundle_v1alpha1.json").read_text())
    for bundle in rendering.bundles:
        errors = list(jsonschema.Draft7Validator(schema).iter_errors(bundle))
        assert not errors, [f"{list(e.absolute_path)}: {e.message}" for e in errors][:5]


_COMMON = {
    "base": [
        "LimitRange/facefleet-defaults",
        "NetworkPolicy/facefleet-allow-dns",
        "NetworkPolicy/facefleet-default-deny",
        "ResourceQuota/facefleet-quota",
    ],
    "database": [
        "CronJob/facefleet-database-backup",
        "NetworkPolicy/facefleet-database",
        "PersistentVolumeClaim/facefleet-database-backup",
        "Service/facefleet-database",
        "StatefulSet/facefleet-database",
    ],
    "recognizer": [
        "Deployment/facefleet-recognizer",
        "NetworkPolicy/facefleet-recognizer",
        "Service/facefleet-recognizer",
    ],
    "ui": ["Deployment/facefleet-ui", "Ingress/facefleet-ui", "NetworkPolicy/facefleet-ui", "Service/facefleet-ui"],
    "turn": ["Deployment/facefleet-turn", "NetworkPolicy/facefleet-turn", "Service/facefleet-turn"],
}
# Cloud adds autoscaling, disruption budgets and the backup job's egress policy.
_CLOUD_EXTRA = {
    "base": [],
    "database": ["NetworkPolicy/facefleet-database-backup", "PodDisruptionBudget/facefleet-database"],
    "recognizer": ["HorizontalPodAutoscaler/facefleet-recognizer", "PodDisruptionBudget/facefleet-recognizer"],
    "ui": ["HorizontalPodAutoscaler/facefleet-ui", "PodDisruptionBudget/facefleet-ui"],
    "turn": ["PodDisruptionBudget/facefleet-turn"],
}
EXPECTED_OBJECTS = {
    "edge": _COMMON,
    "cloud": {b: _COMMON[b] + _CLOUD_EXTRA[b] for b in _COMMON},
    # The home of users is a cloud cluster: the same objects (some configured differently).
    "home": {b: _COMMON[b] + _CLOUD_EXTRA[b] for b in _COMMON},
}


@pytest.mark.parametrize("target", sorted(EXPECTED_OBJECTS))
def test_each_bundle_deploys_exactly_its_objects(rendering, target):
    for bundle, expected in EXPECTED_OBJECTS[target].items():
        got = sorted(f"{o['kind']}/{o['metadata']['name']}" for o in rendering.objects[target][bundle])
        assert got == sorted(expected), f"{target}/{bundle}"
