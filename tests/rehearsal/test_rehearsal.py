"""The rollout rehearsal: commit after commit rolled out by the real Fleet controller and agents to
real edge and cloud control planes (tools/rehearsal/). The tests run in order, each one a step
of the scenario an operator would walk through before pushing to fifty sites; every assertion
reads the three API servers."""

from __future__ import annotations

import base64
import re
import statistics
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tools.rehearsal import dashboard, fleet, gitserver, procs
from tools.rehearsal.kube import Kube, wait_for
from tools.rehearsal.layout import APP_NAMESPACE, CLOUD, EDGE, ROOT, WORKSPACE
from tools.rehearsal.stack import EDGE_TIER_NODES, HOME, PUBLIC_HOST, RENDERED, Stack

pytestmark = pytest.mark.slow

ROLLOUT_TIMEOUT = 300
CLUSTERS = [EDGE.name, CLOUD.name]
# Kinds the charts create in the facefleet namespace, compared before and after each commit.
TRACKED = (
    "Deployment",
    "StatefulSet",
    "Service",
    "ConfigMap",
    "NetworkPolicy",
    "ResourceQuota",
    "LimitRange",
    "PodDisruptionBudget",
    "HorizontalPodAutoscaler",
    "Ingress",
    "CronJob",
    "ServiceAccount",
    "PersistentVolumeClaim",
)
ORDER = [("base", "database"), ("database", "recognizer"), ("recognizer", "ui"), ("turn", "ui")]
STATE: dict = {}  # what one step hands to the next: commits, snapshots, timings


def _apps_objects(kube: Kube) -> dict[str, dict]:
    result = {}
    for kind in TRACKED:
        for obj in kube.list(kind, APP_NAMESPACE):
            if obj["metadata"].get("ownerReferences") and kind in ("PersistentVolumeClaim", "ConfigMap"):
                continue  # made by a controller (kube-root-ca.crt, claims of a StatefulSet)
            if obj["metadata"]["name"] == "kube-root-ca.crt" or obj["metadata"]["name"] == "default":
                continue
            result[f"{kind}/{obj['metadata']['name']}"] = obj
    return result


_BOOKKEEPING = ("resourceVersion", "managedFields", "generation", "uid", "creationTimestamp")


def _content(obj: dict) -> dict:
    """What a commit can change: everything but status and the API server's bookkeeping."""
    meta = {k: v for k, v in obj["metadata"].items() if k not in _BOOKKEEPING}
    return {k: v for k, v in obj.items() if k not in ("status", "metadata")} | {"metadata": meta}


def _changed(before: dict[str, dict], after: dict[str, dict]) -> set[str]:
    keys = before.keys() | after.keys()
    return {k for k in keys if k not in before or k not in after or _content(before[k]) != _content(after[k])}


def _rewritten(before: dict[str, dict], after: dict[str, dict]) -> set[str]:
    """Objects written at all (a new resourceVersion) other than by their status."""
    return {
        k
        for k in before.keys() & after.keys()
        if before[k]["metadata"]["resourceVersion"] != after[k]["metadata"]["resourceVersion"]
        and _content(before[k]) == _content(after[k])
        and before[k].get("status") == after[k].get("status")
    } | _changed(before, after)


def _wait_rollout(stack: Stack, commit: str, clusters: list[str], what: str, timeout: float = ROLLOUT_TIMEOUT) -> float:
    started = time.monotonic()
    try:
        wait_for(
            f"{what}: every bundle Ready at {commit[:12]} on {', '.join(clusters)}",
            lambda: dashboard.converged(stack.management, commit, clusters),
            timeout=timeout,
            interval=1,
        )
    except TimeoutError as err:
        reasons = (
            "\n  ".join(dashboard.not_ready_reasons(stack.management, clusters))
            or "(no BundleDeployment reports a reason)"
        )
        raise AssertionError(f"{err}\nnot ready:\n  {reasons}") from None
    return time.monotonic() - started


def _commit(message: str, path: str, old: str, new: str) -> tuple[str, float]:
    def edit(tree: Path) -> None:
        file = tree / path
        text = file.read_text()
        assert text.count(old) == 1, f"{path}: expected exactly one {old!r}"
        file.write_text(text.replace(old, new))

    sha = gitserver.commit(message, edit)
    return sha, time.monotonic()


def _plan(previous: str) -> dict[str, set[str]]:
    """`make plan REV=<previous>` run in the rehearsal's working clone: group -> changed objects."""
    proc = subprocess.run(
        [sys.executable, "-m", "tools.gitops.plan", previous],
        cwd=gitserver.WORK,
        capture_output=True,
        text=True,
        timeout=600,
        env={"PATH": f"{ROOT / '.tools' / 'bin'}:/usr/bin:/bin", "HOME": str(gitserver.WORK)},
    )
    assert proc.returncode == 0, f"make plan failed:\n{proc.stderr}"
    groups: dict[str, set[str]] = {}
    current = None
    for line in proc.stdout.splitlines():
        if m := re.match(r"== clusters in group '(\w+)'", line):
            current = groups.setdefault(m.group(1), set())
        elif current is not None and (
            m := re.match(r"[~+-] (?:changed|added|removed)\s+\w+: (\w+)/(?:[^/]+/)?(\S+)", line)
        ):
            current.add(f"{m.group(1)}/{m.group(2)}")
    STATE.setdefault("plans", []).append(proc.stdout)
    return groups


def _conditions_time(bd: dict, kind: str) -> str:
    for c in bd.get("status", {}).get("conditions", []):
        if c["type"] == kind:
            return c.get("lastUpdateTime") or c.get("lastTransitionTime") or ""
    return ""


# 1 ---------------------------------------------------------------------------------------------
def test_first_rollout(stack: Stack, report) -> None:
    """All five bundles Ready on both clusters, in dependsOn order, with their Helm releases."""
    commit = gitserver.head()
    seconds = _wait_rollout(stack, commit, CLUSTERS, "first rollout")
    STATE["seed"] = commit
    order = {}
    for cluster in CLUSTERS:
        bds = dashboard.bundle_deployments(stack.management, cluster)
        for before, after in ORDER:
            ready = _conditions_time(bds[before], "Ready")
            deployed = _conditions_time(bds[after], "Deployed")
            assert ready and deployed, f"{cluster}: {before}/{after} BundleDeployments lack status times"
            assert deployed >= ready, (
                f"{cluster}: bundle {after} was deployed at {deployed}, before its "
                f"dependency {before} was Ready at {ready}"
            )
            order[f"{cluster}: {before} Ready -> {after} Deployed"] = f"{ready} -> {deployed}"
        kube = stack.kubes[cluster]
        releases = {s["metadata"]["labels"].get("name") for s in kube.list("Secret", APP_NAMESPACE, "owner=helm")}
        for bundle in dashboard.BUNDLES:
            assert f"facefleet-{bundle}" in releases, f"{cluster}: no Helm release facefleet-{bundle} (have {releases})"
    STATE["after_first"] = {c: _apps_objects(stack.kubes[c]) for c in CLUSTERS}
    report.add("1 first rollout", seconds, dashboard.snapshot(stack.management), commit=commit, order=order)


# 2 ---------------------------------------------------------------------------------------------
def _rendered(commit: str) -> dict:
    """What Fleet's CLI renders per group for commit (tools/gitops, as `make render` does)."""
    from tools.gitops.render import render_tree
    from tools.gitops.tree import export_revision

    if commit not in STATE.setdefault("renders", {}):
        tree = export_revision(commit, ROOT / ".cache" / "rehearsal" / f"tree-{commit[:12]}", root=gitserver.WORK)
        STATE["renders"][commit] = render_tree(tree)
    return STATE["renders"][commit]


def _secret_refs(pod: dict) -> set[str]:
    spec = pod["spec"]
    names = {v["secret"]["secretName"] for v in spec.get("volumes", []) if "secret" in v}
    for container in spec.get("containers", []) + spec.get("initContainers", []):
        for env in container.get("env", []):
            if ref := env.get("valueFrom", {}).get("secretKeyRef"):
                names.add(ref["name"])
        for source in container.get("envFrom", []):
            if ref := source.get("secretRef"):
                names.add(ref["name"])
    return names


def test_placement_and_policy(stack: Stack, report) -> None:
    """Pods where the overlays say, the rendered objects live, restricted admission, Secrets present."""
    started = time.monotonic()
    rendering = _rendered(STATE["seed"])
    facts: dict = {}
    for cluster, group in ((EDGE.name, "edge"), (CLOUD.name, "cloud")):
        kube = stack.kubes[cluster]
        pods = kube.list("Pod", APP_NAMESPACE)
        assert len(pods) >= 3, f"{cluster}: only {len(pods)} facefleet pods"
        edge_nodes = set(EDGE_TIER_NODES[cluster])
        for pod in pods:
            node = pod["spec"].get("nodeName")
            assert pod["status"].get("phase") in ("Running", "Succeeded"), (
                f"{cluster}: pod {pod['metadata']['name']} is {pod['status'].get('phase')} on {node}"
            )
            if group == "edge":
                assert node in edge_nodes, f"edge-1: pod {pod['metadata']['name']} runs on {node}, not an edge node"
            else:
                assert node not in edge_nodes, f"cloud-1: pod {pod['metadata']['name']} runs on the edge node {node}"
        facts[f"{cluster} pods"] = sorted(f"{p['metadata']['name']}@{p['spec']['nodeName']}" for p in pods)
        members = [
            p
            for p in pods
            if p["metadata"]["name"].startswith("facefleet-database-")
            and "job-name" not in p["metadata"].get("labels", {})
        ]
        want_members = 3 if group == "cloud" else 1  # the home's replica set; FerretDB alone on the edge
        assert len(members) == want_members, f"{cluster}: {len(members)} database pods, want {want_members}"
        nodes = {p["spec"]["nodeName"] for p in members}
        assert len(nodes) == want_members, f"{cluster}: database members share nodes: {sorted(nodes)}"
        facts[f"{cluster} database members"] = sorted(nodes)

        live = _apps_objects(kube)
        for bundle, objs in rendering.objects[RENDERED[cluster]].items():
            for obj in objs or []:
                if obj["kind"] in ("Namespace",):
                    continue
                key = f"{obj['kind']}/{obj['metadata']['name']}"
                if obj["kind"] not in TRACKED:
                    assert kube.get(obj["kind"], obj["metadata"]["name"], APP_NAMESPACE) is not None, (
                        f"{cluster}: bundle {bundle} renders {key}, which is not on the cluster"
                    )
                    continue
                assert key in live, f"{cluster}: bundle {bundle} renders {key}, which is not on the cluster"
                want = (obj.get("spec") or {}).get("replicas")
                have = (live[key].get("spec") or {}).get("replicas")
                if want is not None:
                    assert have == want, (
                        f"{cluster}: {key} has {have} replicas, the {RENDERED[cluster]} overlay says {want}"
                    )
                if obj["kind"] == "ResourceQuota":
                    assert live[key]["spec"]["hard"] == obj["spec"]["hard"], (
                        f"{cluster}: {key} differs from the overlay"
                    )
        facts[f"{cluster} objects"] = len(live)

        ns = kube.get("Namespace", APP_NAMESPACE)
        assert ns["metadata"]["labels"].get("pod-security.kubernetes.io/enforce") == "restricted", (
            f"{cluster}: namespace {APP_NAMESPACE} does not enforce restricted"
        )
        # Admission again, for every pod as it runs: a server-side dry run shows any warning.
        for pod in pods:
            body = {
                "apiVersion": "v1",
                "kind": "Pod",
                "spec": pod["spec"] | {"nodeName": None},
                "metadata": {
                    "generateName": "admission-check-",
                    "namespace": APP_NAMESPACE,
                    "labels": {"rehearsal": "dry-run"},
                },
            }
            response = kube.request(
                "POST", f"/api/v1/namespaces/{APP_NAMESPACE}/pods", params={"dryRun": "All"}, json=body
            )
            assert response.status_code == 201, (
                f"{cluster}: pod {pod['metadata']['name']} refused: {response.text[:300]}"
            )
            assert "warning" not in {k.lower() for k in response.headers}, (
                f"{cluster}: pod {pod['metadata']['name']} admitted with a warning: {response.headers.get('warning')}"
            )
        assert kube.list("NetworkPolicy", APP_NAMESPACE), f"{cluster}: no NetworkPolicy"
        referenced = set().union(*(_secret_refs(p) for p in pods))
        present = {s["metadata"]["name"] for s in kube.list("Secret", APP_NAMESPACE)}
        assert referenced <= present, f"{cluster}: pods reference missing Secrets {sorted(referenced - present)}"
        facts[f"{cluster} secrets referenced"] = sorted(referenced)
        want_class = "local-path" if group == "edge" else "standard"  # edge names it; cloud takes the default
        for claim in kube.list("PersistentVolumeClaim", APP_NAMESPACE):
            where = f"{cluster}: claim {claim['metadata']['name']}"
            assert claim["status"].get("phase") == "Bound", f"{where} is {claim['status'].get('phase')}"
            assert claim["spec"].get("storageClassName") == want_class, (
                f"{where} uses {claim['spec'].get('storageClassName')}"
            )
    report.add("2 placement and policy", time.monotonic() - started, dashboard.snapshot(stack.management), **facts)


# 2b --------------------------------------------------------------------------------------------
def _env_of(kube: Kube, deployment: str) -> dict[str, dict]:
    spec = kube.get("Deployment", deployment, APP_NAMESPACE)["spec"]["template"]["spec"]
    return {e["name"]: e for e in spec["containers"][0].get("env", [])}


def _ingress_paths(kube: Kube) -> dict[str, dict]:
    ingress = kube.get("Ingress", "facefleet-ui", APP_NAMESPACE)
    return {p["path"]: p for rule in ingress["spec"]["rules"] for p in rule["http"]["paths"]}


def test_home_and_replica(stack: Stack, report) -> None:
    """Fleet-wide users on the live clusters: cloud-1, labelled the home by the guide, is in the
    ClusterGroup home and serves the sync routes through its TLS ingress, its recognizer admitting
    the ingress controller and reading no facefleet-sync; edge-1's recognizer is a replica, taking
    the home's URL and its credential from the facefleet-sync Secret the guide made there, with
    HTTPS egress; each site is named after its Fleet cluster (Fleet's templating)."""
    started = time.monotonic()
    home_group = wait_for(
        "management: the ClusterGroup home counts exactly cloud-1",
        lambda: (
            (g := stack.management.get("ClusterGroup", "home", WORKSPACE))
            and g.get("status", {}).get("clusterCount") == 1
            and g
        ),
        timeout=60,
    )
    labels = stack.management.get("Cluster", HOME, WORKSPACE)["metadata"]["labels"]
    assert labels.get("facefleet.io/home") == "true" and labels.get("facefleet.io/group") == "cloud", labels
    assert "facefleet.io/home" not in stack.management.get("Cluster", EDGE.name, WORKSPACE)["metadata"]["labels"]

    # The replica: env from facefleet-sync, the Secret present, its site named after the cluster.
    edge_env = _env_of(stack.edge, "facefleet-recognizer")
    for var, key in (("FACEFLEET_HOME_URL", "home-url"), ("FACEFLEET_SYNC_CREDENTIAL", "credential")):
        ref = edge_env.get(var, {}).get("valueFrom", {}).get("secretKeyRef")
        assert ref == {"name": "facefleet-sync", "key": key}, f"edge-1: {var} is {edge_env.get(var)}"
    assert edge_env["FACEFLEET_SITE"]["value"] == EDGE.name, edge_env["FACEFLEET_SITE"]
    assert edge_env["FACEFLEET_REPLICA_MAX_STALENESS_S"]["value"] == "86400"
    sync = stack.edge.get("Secret", "facefleet-sync", APP_NAMESPACE)
    assert sync is not None and set(sync["data"]) == {"home-url", "credential"}, "edge-1: facefleet-sync"
    home_url = base64.b64decode(sync["data"]["home-url"]).decode()
    assert home_url == f"https://{PUBLIC_HOST[HOME]}", home_url
    assert base64.b64decode(sync["data"]["credential"]).decode().startswith(f"ffs1.{EDGE.name}.")
    edge_policy = stack.edge.get("NetworkPolicy", "facefleet-recognizer", APP_NAMESPACE)["spec"]
    https_out = [r for r in edge_policy["egress"] if {"protocol": "TCP", "port": 443} in r.get("ports", [])]
    assert len(https_out) == 1 and all("ipBlock" in peer for peer in https_out[0]["to"]), edge_policy["egress"]
    assert "/v1/sync/" not in _ingress_paths(stack.edge), "edge-1's ingress serves the sync routes"

    # The home: the sync routes through its ingress, no sync Secret, the controller admitted.
    cloud_env = _env_of(stack.cloud, "facefleet-recognizer")
    assert cloud_env["FACEFLEET_SITE"]["value"] == CLOUD.name, cloud_env["FACEFLEET_SITE"]
    assert not {"FACEFLEET_HOME_URL", "FACEFLEET_SYNC_CREDENTIAL"} & set(cloud_env), "cloud-1 is a replica"
    assert stack.cloud.get("Secret", "facefleet-sync", APP_NAMESPACE) is None, "cloud-1 has a facefleet-sync"
    refs = set().union(*(_secret_refs(p) for p in stack.cloud.list("Pod", APP_NAMESPACE)))
    assert "facefleet-sync" not in refs, "a pod on the home references facefleet-sync"
    paths = _ingress_paths(stack.cloud)
    assert paths.get("/v1/sync/", {}).get("pathType") == "Prefix", f"cloud-1's ingress paths: {sorted(paths)}"
    assert paths["/v1/sync/"]["backend"]["service"] == {"name": "facefleet-recognizer", "port": {"number": 8000}}
    assert paths["/"]["backend"]["service"]["name"] == "facefleet-ui"
    ingress = stack.cloud.get("Ingress", "facefleet-ui", APP_NAMESPACE)["spec"]
    assert ingress["tls"] == [{"hosts": [PUBLIC_HOST[HOME]], "secretName": "facefleet-tls"}], ingress["tls"]
    assert stack.cloud.get("Secret", "facefleet-tls", APP_NAMESPACE) is not None
    cloud_policy = stack.cloud.get("NetworkPolicy", "facefleet-recognizer", APP_NAMESPACE)["spec"]
    from_controller = [
        r for r in cloud_policy["ingress"] if any("namespaceSelector" in peer for peer in r.get("from", []))
    ]
    assert [r["ports"] for r in from_controller] == [[{"protocol": "TCP", "port": 8000}]], cloud_policy["ingress"]
    assert all({"protocol": "TCP", "port": 443} not in r.get("ports", []) for r in cloud_policy["egress"]), (
        "the home's recognizer dials out"
    )
    report.add(
        "2b home and replica",
        time.monotonic() - started,
        dashboard.snapshot(stack.management),
        home_group=home_group["status"].get("display", {}),
        home=f"{HOME}: ingress paths {sorted(paths)}, no facefleet-sync",
        replica=f"{EDGE.name}: FACEFLEET_HOME_URL and FACEFLEET_SYNC_CREDENTIAL from facefleet-sync, egress TCP 443",
    )


# 3 ---------------------------------------------------------------------------------------------
def test_edge_only_commit_changes_only_edge(stack: Stack, report) -> None:
    """A commit to the edge overlay alone changes exactly what `make plan` predicted, on edge-1 only."""
    before = {c: _apps_objects(stack.kubes[c]) for c in CLUSTERS}
    previous = gitserver.head()
    commit, pushed = _commit(
        "rehearsal: more CPU for the edge recognizer",
        "apps/recognizer/values/edge.yaml",
        "requests: {cpu: 250m, memory: 640Mi}",
        "requests: {cpu: 300m, memory: 640Mi}",
    )
    seconds = _wait_rollout(stack, commit, CLUSTERS, "edge-only commit")
    STATE.setdefault("commit_to_ready_s", []).append(time.monotonic() - pushed)
    time.sleep(3)  # a late write would show now
    after = {c: _apps_objects(stack.kubes[c]) for c in CLUSTERS}
    observed = {c: _changed(before[c], after[c]) for c in CLUSTERS}
    plan = _plan(previous)
    untouched = _rewritten(before[CLOUD.name], after[CLOUD.name])
    assert untouched == set(), f"cloud-1 objects rewritten by an edge-only commit: {sorted(untouched)}"
    for group in ("cloud", "home"):  # cloud-1 is the home; a cloud replica would change alike
        assert plan.get(group, set()) == set(), f"make plan predicted {group} changes: {sorted(plan[group])}"
    assert observed[EDGE.name], "the edge commit changed nothing on edge-1"
    assert observed[EDGE.name] == plan.get("edge", set()), (
        f"edge-1: make plan predicted {sorted(plan.get('edge', set()))}, observed {sorted(observed[EDGE.name])}"
    )
    deployment = stack.edge.get("Deployment", "facefleet-recognizer", APP_NAMESPACE)
    assert deployment["spec"]["template"]["spec"]["containers"][0]["resources"]["requests"]["cpu"] == "300m"
    STATE["before_both"] = after
    report.add(
        "3 edge-only commit",
        seconds,
        dashboard.snapshot(stack.management),
        commit=commit,
        planned={g: sorted(v) for g, v in plan.items()},
        observed={c: sorted(v) for c, v in observed.items()},
    )


# 4 ---------------------------------------------------------------------------------------------
def test_offline_edge_never_holds_back_cloud(stack: Stack, report) -> None:
    """With edge-1 cut off, a commit for both groups completes on cloud-1; edge-1 catches up later."""
    started = time.monotonic()
    fleet.stop_agent(EDGE)
    stack.planes[EDGE.name].stop_server()
    assert not stack.edge.ready(), "edge-1's API server still answers after being stopped"
    commit, pushed = _commit(
        "rehearsal: shorter tokens everywhere",
        "apps/recognizer/values.yaml",
        "tokenTtlSeconds: 900",
        "tokenTtlSeconds: 600",
    )
    cloud_s = _wait_rollout(stack, commit, [CLOUD.name], "cloud while edge-1 is offline")
    env = {
        e["name"]: e.get("value")
        for e in stack.cloud.get("Deployment", "facefleet-recognizer", APP_NAMESPACE)["spec"]["template"]["spec"][
            "containers"
        ][0].get("env", [])
    }
    assert env.get("FACEFLEET_TOKEN_TTL_S") == "600", f"cloud-1 recognizer env: {env}"
    offline_board = dashboard.snapshot(stack.management)
    assert not dashboard.converged(stack.management, commit, [EDGE.name]), (
        "edge-1 reported the new commit while offline"
    )

    stack.planes[EDGE.name].start_server()
    fleet.start_agent(stack.edge, EDGE)
    edge_s = _wait_rollout(stack, commit, CLUSTERS, "edge-1 back online")
    env = {
        e["name"]: e.get("value")
        for e in stack.edge.get("Deployment", "facefleet-recognizer", APP_NAMESPACE)["spec"]["template"]["spec"][
            "containers"
        ][0].get("env", [])
    }
    assert env.get("FACEFLEET_TOKEN_TTL_S") == "600", f"edge-1 recognizer env after reconnecting: {env}"
    report.add(
        "4 edge offline",
        time.monotonic() - started,
        dashboard.snapshot(stack.management),
        commit=commit,
        cloud_ready_while_edge_offline_s=round(cloud_s, 1),
        edge_caught_up_s=round(edge_s, 1),
        dashboard_while_offline=offline_board["bundles"].get("recognizer"),
    )


# 5 ---------------------------------------------------------------------------------------------
def _template(kube: Kube, kind: str, name: str) -> dict:
    return kube.get(kind, name, APP_NAMESPACE)["spec"]["template"]


def test_revert_restores_previous_objects(stack: Stack, report) -> None:
    """`git revert` of the last commit brings both clusters back to the objects they had before it."""
    sha = gitserver.revert_last()
    pushed = time.monotonic()
    seconds = _wait_rollout(stack, sha, CLUSTERS, "revert")
    STATE.setdefault("commit_to_ready_s", []).append(time.monotonic() - pushed)
    for cluster in CLUSTERS:
        kube = stack.kubes[cluster]
        before = STATE["before_both"][cluster]
        now = _apps_objects(kube)
        assert set(now) == set(before), f"{cluster}: objects differ after the revert: {sorted(set(now) ^ set(before))}"
        for key, obj in before.items():
            kind, name = key.split("/", 1)
            if kind in ("Deployment", "StatefulSet"):
                assert _template(kube, kind, name) == obj["spec"]["template"], (
                    f"{cluster}: {key} differs from before the reverted commit"
                )
    report.add("5 revert", seconds, dashboard.snapshot(stack.management), commit=sha)


# 6 ---------------------------------------------------------------------------------------------
def _bd_state(stack: Stack, cluster: str, bundle: str) -> str:
    return dashboard.deployment_state(dashboard.bundle_deployments(stack.management, cluster)[bundle])


def test_drift(stack: Stack, report) -> None:
    """A hand change the charts allow leaves the bundles Ready; one they do not is put back."""
    started = time.monotonic()
    commit = gitserver.head()
    # Allowed: an autoscaled Deployment's replicas, moved as the HPA would move them.
    hpa_target = "facefleet-recognizer"
    assert stack.cloud.get("HorizontalPodAutoscaler", hpa_target, APP_NAMESPACE), "cloud-1 has no recognizer HPA"
    stack.cloud.patch("Deployment", hpa_target, {"spec": {"replicas": 3}}, APP_NAMESPACE)
    time.sleep(20)  # more than the agent's drift and status intervals
    assert stack.cloud.get("Deployment", hpa_target, APP_NAMESPACE)["spec"]["replicas"] == 3, (
        "Fleet moved replicas back that the HPA owns"
    )
    assert dashboard.converged(stack.management, commit, CLUSTERS), (
        "replicas changed as an HPA would made a bundle not Ready: "
        + "; ".join(dashboard.not_ready_reasons(stack.management, CLUSTERS))
    )

    # Not allowed: an edited NetworkPolicy (the recognizer's, opened to every pod). Fleet compares
    # the fields the chart sets, so the edit replaces one: the ingress rules.
    name, bundle = "facefleet-recognizer", "recognizer"
    original = stack.edge.get("NetworkPolicy", name, APP_NAMESPACE)["spec"]
    assert original.get("ingress") and original["ingress"] != [{}], f"edge-1: {name} has no ingress rules to edit"
    stack.edge.patch("NetworkPolicy", name, {"spec": {"ingress": [{}]}}, APP_NAMESPACE)
    seen = set()

    def put_back():
        seen.add(_bd_state(stack, EDGE.name, bundle))
        return stack.edge.get("NetworkPolicy", name, APP_NAMESPACE)["spec"] == original

    wait_for(f"edge-1: NetworkPolicy {name} put back by correctDrift", put_back, timeout=120, interval=0.5)
    _wait_rollout(stack, commit, CLUSTERS, "after drift correction", timeout=120)
    report.add(
        "6 drift",
        time.monotonic() - started,
        dashboard.snapshot(stack.management),
        allowed_change="cloud-1 recognizer replicas 3 (HPA-owned): bundles stayed Ready",
        forbidden_change=f"edge-1 NetworkPolicy {name} opened: states seen {sorted(seen)}, put back",
    )


# 7 ---------------------------------------------------------------------------------------------
PER_SITE_SECRETS = ("facefleet-database", "facefleet-recognizer", "facefleet-turn", "facefleet-tls")
# Keys the same on every site: the fleet-wide embedding key (fleet-wide users move embeddings as
# their encrypted blobs, clusters/README.md), and the database user's name, which is no secret.
FLEET_WIDE_KEYS = {"facefleet-recognizer": {"embedding-key"}, "facefleet-database": {"username"}}


def test_secrets_at_fleet_scale(stack: Stack, report) -> None:
    """The guide's Secrets differ per site, key by key, but for the fleet-wide embedding key; and
    Fleet's downstreamResources copies one identical Secret from the management cluster to every
    targeted cluster: the reason the facefleet Secrets stay per cluster (clusters/README.md,
    "Secrets at fleet scale")."""
    started = time.monotonic()
    for name in PER_SITE_SECRETS:
        edge, cloud = (stack.kubes[c].get("Secret", name, APP_NAMESPACE) for c in CLUSTERS)
        assert edge and cloud, f"{name} missing on {'edge-1' if not edge else 'cloud-1'}"
        assert set(edge["data"]) == set(cloud["data"]), name
        for key in edge["data"]:
            same = edge["data"][key] == cloud["data"][key]
            fleet_wide = key in FLEET_WIDE_KEYS.get(name, set())
            assert same == fleet_wide, f"{name}/{key}: {'the same' if same else 'different'} on edge-1 and cloud-1"
    probe = "facefleet-rehearsal-fleetwide"
    stack.management.apply(
        {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {"name": probe, "namespace": WORKSPACE},
            "stringData": {"value": f"one value for every site {time.time()}"},
        }
    )
    commit, pushed = _commit(
        "rehearsal: copy one Secret to every cluster",
        "fleet.yaml",
        "\nrolloutStrategy:\n",
        f"\ndownstreamResources:\n  - kind: Secret\n    name: {probe}\nrolloutStrategy:\n",
    )
    seconds = _wait_rollout(stack, commit, CLUSTERS, "downstreamResources")
    STATE.setdefault("commit_to_ready_s", []).append(time.monotonic() - pushed)
    upstream = stack.management.get("Secret", probe, WORKSPACE)["data"]
    for cluster in CLUSTERS:
        copy = stack.kubes[cluster].get("Secret", probe, APP_NAMESPACE)
        assert copy is not None, f"{cluster}: Fleet did not copy {probe} into {APP_NAMESPACE}"
        assert copy["data"] == upstream, f"{cluster}: the copy of {probe} differs from the management cluster's"
    sha = gitserver.revert_last()
    pushed = time.monotonic()
    _wait_rollout(stack, sha, CLUSTERS, "revert of downstreamResources")
    STATE.setdefault("commit_to_ready_s", []).append(time.monotonic() - pushed)
    report.add(
        "7 secrets at fleet scale",
        time.monotonic() - started,
        dashboard.snapshot(stack.management),
        commit=commit,
        per_site_secrets_differ=list(PER_SITE_SECRETS),
        fleet_wide_keys={k: sorted(v) for k, v in FLEET_WIDE_KEYS.items()},
        downstream_copy=f"{probe}: identical on both clusters after {seconds:.1f} s",
        copies_after_revert={c: stack.kubes[c].get("Secret", probe, APP_NAMESPACE) is not None for c in CLUSTERS},
    )


# 8 ---------------------------------------------------------------------------------------------
def test_cluster_leaving_its_group_keeps_the_users_data(stack: Stack, report) -> None:
    """Unlabelling edge-1 removes what each bundle put there, except the database bundle's objects
    (keepResources); labelled again, it converges on the current commit without a hand step."""
    started = time.monotonic()
    commit = gitserver.head()
    before = _apps_objects(stack.edge)
    claims = {
        c["metadata"]["name"]: c["metadata"]["uid"] for c in stack.edge.list("PersistentVolumeClaim", APP_NAMESPACE)
    }
    assert claims, "edge-1 has no claims to keep"
    stack.management.kubectl("-n", WORKSPACE, "label", "clusters.fleet.cattle.io", EDGE.name, "facefleet.io/group-")
    wait_for(
        "edge-1: the recognizer removed after the cluster left its group",
        lambda: stack.edge.get("Deployment", "facefleet-recognizer", APP_NAMESPACE) is None,
        timeout=180,
    )
    wait_for(
        "edge-1: the ui removed",
        lambda: stack.edge.get("Deployment", "facefleet-ui", APP_NAMESPACE) is None,
        timeout=120,
    )
    kept = {
        c["metadata"]["name"]: c["metadata"]["uid"] for c in stack.edge.list("PersistentVolumeClaim", APP_NAMESPACE)
    }
    assert kept == claims, f"edge-1 claims before {claims}, after leaving the group {kept}"
    database = stack.edge.get("StatefulSet", "facefleet-database", APP_NAMESPACE)
    assert database is not None, "edge-1: the database StatefulSet was deleted (keepResources)"
    assert database["metadata"]["uid"] == before["StatefulSet/facefleet-database"]["metadata"]["uid"]
    removed = sorted(k for k in before if stack.edge.get(k.split("/")[0], k.split("/", 1)[1], APP_NAMESPACE) is None)

    stack.management.kubectl("-n", WORKSPACE, "label", "clusters.fleet.cattle.io", EDGE.name, "facefleet.io/group=edge")
    seconds = _wait_rollout(stack, commit, CLUSTERS, "edge-1 back in its group")
    after = {
        c["metadata"]["name"]: c["metadata"]["uid"] for c in stack.edge.list("PersistentVolumeClaim", APP_NAMESPACE)
    }
    assert after == claims, f"edge-1 claims replaced after rejoining: {claims} -> {after}"
    report.add(
        "8 a cluster leaves its group",
        time.monotonic() - started,
        dashboard.snapshot(stack.management),
        removed_while_out=removed,
        kept=sorted(claims) + ["StatefulSet/facefleet-database"],
        rejoined_ready_s=round(seconds, 1),
    )


# end -------------------------------------------------------------------------------------------
def test_converged_on_the_last_commit(stack: Stack, report) -> None:
    """What `make rehearsal KEEP=1` leaves behind: every bundle Ready at the last commit, pods
    Running on both clusters, the controller and both agents alive."""
    commit = gitserver.head()
    _wait_rollout(stack, commit, CLUSTERS, "final state", timeout=120)
    for cluster in CLUSTERS:
        running = [p for p in stack.kubes[cluster].list("Pod", APP_NAMESPACE) if p["status"].get("phase") == "Running"]
        assert len(running) >= 3, f"{cluster}: {len(running)} facefleet pods Running"
    alive = procs.running()
    for name in (
        "fleet.controller",
        "fleet.agentmanagement",
        "fleet.gitjob",
        f"{EDGE.name}.fleet-agent",
        f"{CLOUD.name}.fleet-agent",
    ):
        assert name in alive, f"{name} is not running"
    times = STATE.get("commit_to_ready_s", [])
    # Commits that reached both clusters (step 4's reached cloud-1 alone, reported in its step).
    report.meta["commit_to_ready_median_s"] = round(statistics.median(times), 1) if times else None
    report.meta["commit_to_ready_s"] = [round(t, 1) for t in times]
    report.add("final state", 0, dashboard.snapshot(stack.management), commit=commit)
