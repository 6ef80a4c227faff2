"""Fleet on the rehearsal's management cluster, and one fleet-agent per downstream cluster.

Everything is a host process of the pinned release (tools/fleetcli, v0.16.0), wired exactly as
Fleet's own charts wire the pods: the CRDs from `charts/fleet-crd`, the `fleet-controller`
ConfigMap, and agent-initiated registration with a ClusterRegistrationToken. The Fleet `Cluster`
objects are created beforehand with the labels clusters/README.md tells an operator to set, and
the agents register into them by clientID."""

from __future__ import annotations

import base64
import json
import os
from pathlib import Path

import yaml

from . import procs
from .controlplane import module_dir
from .kube import Kube, wait_for
from .layout import (
    AGENTMGMT_METRICS_PORT,
    AGENTMGMT_PROBE_PORT,
    BIN,
    CONTROLLER_METRICS_PORT,
    CONTROLLER_PROBE_PORT,
    FLEET_NAMESPACE,
    GITJOB_METRICS_PORT,
    GITJOB_PORT,
    HOST,
    MANAGEMENT,
    ROOT,
    WORKSPACE,
    ClusterSpec,
)
from .pki import ClusterPKI

FLEET_VERSION = "v0.16.0"
REGISTRATION_TOKEN = "rehearsal"
# Fleet's charts set these; the controller refuses to start without them.
_ELECTION = {
    "CATTLE_ELECTION_LEASE_DURATION": "30s",
    "CATTLE_ELECTION_RENEW_DEADLINE": "25s",
    "CATTLE_ELECTION_RETRY_PERIOD": "10s",
}


def fleet_module_dir() -> Path:
    folder = module_dir(f"github.com/rancher/fleet@{FLEET_VERSION}")
    if not folder.is_dir():
        raise FileNotFoundError(f"{folder} is missing: run `make rehearsal-engines`")
    return folder


def _env(kubeconfig: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("KUBE", "FLEET_", "CATTLE_"))}
    return env | _ELECTION | {"KUBECONFIG": str(kubeconfig), "NAMESPACE": FLEET_NAMESPACE} | extra


def install_crds(mgmt: Kube) -> None:
    mgmt.apply_files(fleet_module_dir() / "charts" / "fleet-crd" / "templates" / "crds.yaml")
    wait_for(
        "management: Fleet CRDs established",
        lambda: all(
            mgmt.raw(f"/apis/fleet.cattle.io/v1alpha1/{plural}").status_code == 200
            for plural in ("gitrepos", "bundles", "clusters", "clustergroups", "bundledeployments")
        ),
        timeout=60,
    )


def install_system_objects(mgmt: Kube) -> None:
    """What Fleet's chart puts into cattle-fleet-system besides the pods."""
    ca = ClusterPKI(MANAGEMENT.folder / "pki").ca_cert.read_bytes()
    config = {
        "apiServerURL": MANAGEMENT.server,
        "apiServerCA": base64.b64encode(ca).decode(),
        "manageAgent": False,
        "agentCheckinInterval": "15s",
        "bootstrap": {"namespace": "-"},
    }
    known_hosts = fleet_module_dir() / "charts" / "fleet" / "templates" / "configmap_known_hosts.yaml"
    objects = [
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": FLEET_NAMESPACE}},
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": WORKSPACE}},
        {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": "fleet-controller", "namespace": FLEET_NAMESPACE},
            "data": {"config": json.dumps(config)},
        },
        # gitjob copies its pods' scheduling from this Deployment; the controller itself runs on
        # the host, so the Deployment has no replicas.
        {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {"name": "fleet-controller", "namespace": FLEET_NAMESPACE},
            "spec": {
                "replicas": 0,
                "selector": {"matchLabels": {"app": "fleet-controller"}},
                "template": {
                    "metadata": {"labels": {"app": "fleet-controller"}},
                    "spec": {"containers": [{"name": "fleet-controller", "image": "rancher/fleet:" + FLEET_VERSION}]},
                },
            },
        },
    ]
    for obj in objects:
        mgmt.apply(obj)
    mgmt.apply_yaml(_known_hosts_manifest(known_hosts))


def _known_hosts_manifest(template: Path) -> str:
    """The chart's known-hosts ConfigMap, its Helm directives dropped (it is static data)."""
    lines = [line for line in template.read_text().splitlines() if "{{" not in line]
    doc = yaml.safe_load("\n".join(lines))
    doc["metadata"]["namespace"] = FLEET_NAMESPACE
    return yaml.safe_dump(doc)


def start_controller() -> None:
    kubeconfig = MANAGEMENT.kubeconfig
    bin_ = str(BIN / "fleetcontroller")
    procs.start(
        "fleet.controller",
        [bin_, "--leader-elect=false"],
        env=_env(
            kubeconfig,
            FLEET_METRICS_BIND_ADDRESS=f"{HOST}:{CONTROLLER_METRICS_PORT}",
            FLEET_HEALTHPROBE_BIND_ADDRESS=f"{HOST}:{CONTROLLER_PROBE_PORT}",
        ),
    )
    procs.start(
        "fleet.agentmanagement",
        [bin_, "agentmanagement", "--namespace", FLEET_NAMESPACE, "--disable-bootstrap"],
        env=_env(
            kubeconfig,
            FLEET_METRICS_BIND_ADDRESS=f"{HOST}:{AGENTMGMT_METRICS_PORT}",
            FLEET_HEALTHPROBE_BIND_ADDRESS=f"{HOST}:{AGENTMGMT_PROBE_PORT}",
        ),
    )
    procs.start(
        "fleet.gitjob",
        [
            bin_,
            "gitjob",
            "--leader-elect=false",
            "--listen",
            f"{HOST}:{GITJOB_PORT}",
            "--metrics-bind-address",
            f"{HOST}:{GITJOB_METRICS_PORT}",
            "--gitjob-image",
            "rancher/fleet:" + FLEET_VERSION,
        ],
        env=_env(kubeconfig, GITOPS_METRICS_BIND_ADDRESS=f"{HOST}:{GITJOB_METRICS_PORT}"),
    )


def registration_values(mgmt: Kube) -> str:
    """Create the ClusterRegistrationToken and return the agent bootstrap values Fleet made for it."""
    mgmt.apply(
        {
            "apiVersion": "fleet.cattle.io/v1alpha1",
            "kind": "ClusterRegistrationToken",
            "metadata": {"name": REGISTRATION_TOKEN, "namespace": WORKSPACE},
            "spec": {"ttl": "12h"},
        }
    )
    secret = wait_for(
        "management: the registration token's values Secret",
        lambda: (s := mgmt.get("Secret", REGISTRATION_TOKEN, WORKSPACE)) and s.get("data", {}).get("values") and s,
        timeout=90,
    )
    return base64.b64decode(secret["data"]["values"]).decode()


def create_cluster(mgmt: Kube, spec: ClusterSpec) -> None:
    """The Fleet Cluster object, named after the cluster; its agent registers into it by clientID
    and the operator guide's commands label it into a group afterwards."""
    mgmt.apply(
        {
            "apiVersion": "fleet.cattle.io/v1alpha1",
            "kind": "Cluster",
            "metadata": {"name": spec.name, "namespace": WORKSPACE},
            "spec": {"clientID": spec.name},
        }
    )


def start_agent(downstream: Kube, spec: ClusterSpec, values: str | None = None) -> None:
    """Bootstrap objects as Fleet's agent chart creates them, then the agent as a host process.

    values (the registration token's) are needed only until the agent has registered."""
    downstream.apply({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": FLEET_NAMESPACE}})
    if values and downstream.get("Secret", "fleet-agent", FLEET_NAMESPACE) is None:
        downstream.apply(
            {
                "apiVersion": "v1",
                "kind": "Secret",
                "metadata": {"name": "fleet-agent-bootstrap", "namespace": FLEET_NAMESPACE},
                "data": {"values": base64.b64encode(values.encode()).decode()},
            }
        )
    downstream.apply(
        {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": "fleet-agent", "namespace": FLEET_NAMESPACE},
            "data": {"config": json.dumps({"clientID": spec.name, "agentTLSMode": "strict"})},
        }
    )
    procs.start(
        f"{spec.name}.fleet-agent",
        [str(BIN / "fleetagent"), "--leader-elect=false", "--kubeconfig", str(spec.kubeconfig)],
        env=_env(
            spec.kubeconfig,
            FLEET_AGENT_METRICS_BIND_ADDRESS=f"{HOST}:{spec.agent_metrics_port}",
            FLEET_AGENT_PROBE_BIND_ADDRESS=f"{HOST}:{spec.agent_probe_port}",
            CHECKIN_INTERVAL="15s",
            AGENT_SCOPE="",
            HOSTNAME=f"{spec.name}-agent",
            HELM_CACHE_HOME=str(spec.folder / "helm"),
        ),
    )


def stop_agent(spec: ClusterSpec) -> None:
    procs.stop(f"{spec.name}.fleet-agent")


def wait_registered(mgmt: Kube, spec: ClusterSpec, timeout: float = 180) -> dict:
    """The Cluster's namespace is set and its agent has checked in."""
    return wait_for(
        f"management: Cluster {WORKSPACE}/{spec.name} registered and agent checked in",
        lambda: (
            (c := mgmt.get("Cluster", spec.name, WORKSPACE))
            and c.get("status", {}).get("namespace")
            and c.get("status", {}).get("agent", {}).get("lastSeen")
            and c
        ),
        timeout=timeout,
    )


def apply_management_objects(mgmt: Kube, repo_url: str, polling: str) -> None:
    """clusters/clustergroups.yaml and clusters/gitrepo.yaml as they are, except the repository's
    URL and credentials (the local git daemon needs none) and a shorter polling interval."""
    mgmt.apply_files(ROOT / "clusters" / "clustergroups.yaml")
    gitrepo = yaml.safe_load((ROOT / "clusters" / "gitrepo.yaml").read_text())
    gitrepo["spec"]["repo"] = repo_url
    gitrepo["spec"].pop("clientSecretName", None)
    gitrepo["spec"]["pollingInterval"] = polling
    mgmt.apply(gitrepo)
