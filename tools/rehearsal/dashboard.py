"""What an operator sees on Fleet's dashboard, read from the management cluster's objects, and
the convergence checks the scenario waits on."""

from __future__ import annotations

from .kube import Kube
from .layout import GITREPO, WORKSPACE

BUNDLES = ("base", "database", "recognizer", "turn", "ui")
REPO_LABEL = f"fleet.cattle.io/repo-name={GITREPO}"


def _cluster_groups(mgmt: Kube) -> dict[str, tuple[str, str]]:
    """cluster namespace -> (cluster name, facefleet group)."""
    result = {}
    for cluster in mgmt.list("Cluster", WORKSPACE):
        ns = cluster.get("status", {}).get("namespace")
        if ns:
            result[ns] = (
                cluster["metadata"]["name"],
                cluster["metadata"].get("labels", {}).get("facefleet.io/group", "-"),
            )
    return result


def bundle_name(bundle: dict) -> str:
    return bundle["metadata"].get("labels", {}).get("facefleet.io/bundle", bundle["metadata"]["name"])


def _bd_ready(bd: dict) -> bool:
    status = bd.get("status", {})
    conditions = {c["type"]: c.get("status") for c in status.get("conditions", [])}
    spec = bd["spec"]
    wanted = spec.get("deploymentID")
    # Fleet stages a new deployment first and promotes it when the rollout partition allows; the
    # agent reports which one it applied.
    return (
        wanted is not None
        and spec.get("stagedDeploymentID") == wanted
        and status.get("appliedDeploymentID") == wanted
        and status.get("ready") is True
        and conditions.get("Ready") == "True"
    )


def deployment_state(bd: dict) -> str:
    """The state the dashboard shows for one cluster's deployment of a bundle."""
    spec, status = bd["spec"], bd.get("status", {})
    if spec.get("stagedDeploymentID") != spec.get("deploymentID"):
        return "Pending"  # held back by the rollout strategy
    if status.get("appliedDeploymentID") != spec.get("deploymentID"):
        return "WaitApplied"  # the agent has not applied it (yet)
    if status.get("nonModified") is False:
        return "Modified"
    return status.get("display", {}).get("state") or ("Ready" if _bd_ready(bd) else "NotReady")


def snapshot(mgmt: Kube) -> dict:
    """Per GitRepo and bundle: the commit, and per group the clusters ready out of those targeted."""
    groups = _cluster_groups(mgmt)
    gitrepo = mgmt.get("GitRepo", GITREPO, WORKSPACE) or {}
    gstatus = gitrepo.get("status", {})
    view: dict = {
        "gitrepo": {
            "name": GITREPO,
            "commit": gstatus.get("commit"),
            "readyClusters": gstatus.get("readyClusters"),
            "desiredReadyClusters": gstatus.get("desiredReadyClusters"),
            "display": gstatus.get("display", {}),
        },
        "bundles": {},
    }
    bds = [
        bd
        for bd in mgmt.list("BundleDeployment")
        if bd["metadata"].get("labels", {}).get("fleet.cattle.io/repo-name") == GITREPO
    ]
    for bundle in sorted(mgmt.list("Bundle", WORKSPACE, REPO_LABEL), key=bundle_name):
        name = bundle["metadata"]["name"]
        entry = {
            "commit": bundle["metadata"].get("labels", {}).get("fleet.cattle.io/commit"),
            "state": bundle.get("status", {}).get("display", {}).get("state") or "Ready",
            "summary": {
                k: v
                for k, v in bundle.get("status", {}).get("summary", {}).items()
                if k
                in (
                    "ready",
                    "desiredReady",
                    "modified",
                    "notReady",
                    "waitApplied",
                    "errApplied",
                    "outOfSync",
                    "pending",
                )
            },
            "groups": {},
        }
        for bd in bds:
            if bd["metadata"].get("labels", {}).get("fleet.cattle.io/bundle-name") != name:
                continue
            cluster, group = groups.get(bd["metadata"]["namespace"], ("?", "?"))
            counts = entry["groups"].setdefault(group, {"ready": 0, "targeted": 0, "clusters": {}})
            counts["targeted"] += 1
            counts["ready"] += _bd_ready(bd)
            counts["clusters"][cluster] = deployment_state(bd)
        view["bundles"][bundle_name(bundle)] = entry
    return view


def bundle_deployments(mgmt: Kube, cluster: str) -> dict[str, dict]:
    """facefleet bundle name -> the BundleDeployment of that bundle on cluster."""
    groups = _cluster_groups(mgmt)
    ns = next((ns for ns, (name, _) in groups.items() if name == cluster), None)
    if ns is None:
        return {}
    result = {}
    for bd in mgmt.list("BundleDeployment", ns):
        labels = bd["metadata"].get("labels", {})
        if labels.get("fleet.cattle.io/repo-name") == GITREPO:
            short = labels.get("facefleet.io/bundle") or labels.get("fleet.cattle.io/bundle-name")
            result[short] = bd
    return result


def converged(mgmt: Kube, commit: str, clusters: list[str]) -> bool:
    """Every facefleet bundle is at commit and Ready on each of clusters."""
    bundles = {bundle_name(b): b for b in mgmt.list("Bundle", WORKSPACE, REPO_LABEL)}
    if set(bundles) != set(BUNDLES):
        return False
    if any(b["metadata"].get("labels", {}).get("fleet.cattle.io/commit") != commit for b in bundles.values()):
        return False
    for cluster in clusters:
        bds = bundle_deployments(mgmt, cluster)
        if set(bds) != set(BUNDLES):
            return False
        for bd in bds.values():
            if not _bd_ready(bd) or bd["metadata"].get("labels", {}).get("fleet.cattle.io/commit") != commit:
                return False
    return True


def not_ready_reasons(mgmt: Kube, clusters: list[str]) -> list[str]:
    """One line per BundleDeployment that is not Ready: for a failure message."""
    lines = []
    for cluster in clusters:
        for short, bd in sorted(bundle_deployments(mgmt, cluster).items()):
            if not _bd_ready(bd):
                status = bd.get("status", {})
                msgs = [
                    f"{c['type']}={c.get('status')}: {c.get('message', '')}"
                    for c in status.get("conditions", [])
                    if c.get("status") != "True"
                ]
                nonready = [
                    f"{r.get('kind')}/{r.get('name')}: {r.get('summary', {})}" for r in status.get("nonReadyStatus", [])
                ]
                modified = [
                    f"{m.get('kind')}/{m.get('name')} {m.get('patch', '')[:200]}"
                    for m in status.get("modifiedStatus", [])
                ]
                lines.append(f"{cluster} bundle {short}: {'; '.join(msgs + nonready + modified)}")
    return lines
