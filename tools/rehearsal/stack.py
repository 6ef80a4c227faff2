"""Bring the whole rehearsal up, and take it down: three clusters, Fleet, agents, git server.

management  Fleet's CRDs, controller (+ agentmanagement, gitjob), the GitRepo; no nodes
edge-1      a k3s-like server node and two tainted edge nodes (one arm64); fleet-agent; a replica
            of the home of users (the Secret facefleet-sync)
cloud-1     three cloud nodes and one tainted edge node that cloud pods must avoid; fleet-agent;
            the home of users (labelled facefleet.io/home=true)
"""

from __future__ import annotations

import secrets
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from . import fleet, gitserver, guide, procs
from .controlplane import ControlPlane, NodeSpec
from .kube import Kube
from .layout import ARTIFACTS, CLOUD, CLUSTERS, DOWNSTREAM, EDGE, MANAGEMENT, ROOT, STATE, ClusterSpec

STANDINS = Path(__file__).with_name("standins.yaml")
POLLING_INTERVAL = "5s"

EDGE_NODES = [
    NodeSpec("edge-1-server", "4", "4Gi"),
    NodeSpec("edge-1-line-a", "4", "4Gi"),
    NodeSpec("edge-1-line-b", "4", "4Gi", arch="arm64"),
]
EDGE_TIER_NODES = {"edge-1": ["edge-1-line-a", "edge-1-line-b"], "cloud-1": ["cloud-1-edge"]}
CLOUD_NODES = [NodeSpec(f"cloud-1-node-{i}", "8", "16Gi") for i in (1, 2, 3)] + [NodeSpec("cloud-1-edge", "4", "4Gi")]
GROUP = {"edge-1": "edge", "cloud-1": "cloud"}
PUBLIC_HOST = {"edge-1": "line1.rehearsal.invalid", "cloud-1": "cloud1.rehearsal.invalid"}
# Fleet-wide users: cloud-1 is the home, edge-1 a replica of it. RENDERED names the target of
# tools.gitops.render whose objects each cluster gets (the home's differ from a plain cloud's).
HOME = "cloud-1"
RENDERED = {"edge-1": "edge", "cloud-1": "home"}
SYNC_GUIDE = "Fleet-wide users: the home and a credential for each replica"


def _log(message: str) -> None:
    print(f"[rehearsal {time.strftime('%H:%M:%S')}] {message}", flush=True)


@dataclass
class Stack:
    """Handles on the running rehearsal."""

    planes: dict[str, ControlPlane] = field(default_factory=dict)
    kubes: dict[str, Kube] = field(default_factory=dict)

    @property
    def management(self) -> Kube:
        return self.kubes[MANAGEMENT.name]

    @property
    def edge(self) -> Kube:
        return self.kubes[EDGE.name]

    @property
    def cloud(self) -> Kube:
        return self.kubes[CLOUD.name]


def _k3s_standins(kube: Kube, default_class: str) -> None:
    """The objects k3s brings that the charts rely on: a default StorageClass and traefik's class."""
    kube.apply(
        {
            "apiVersion": "storage.k8s.io/v1",
            "kind": "StorageClass",
            "metadata": {"name": default_class, "annotations": {"storageclass.kubernetes.io/is-default-class": "true"}},
            "provisioner": "rehearsal.facefleet.io/volume",
            "reclaimPolicy": "Delete",
            "volumeBindingMode": "WaitForFirstConsumer",
        }
    )
    kube.apply(
        {
            "apiVersion": "networking.k8s.io/v1",
            "kind": "IngressClass",
            "metadata": {"name": "traefik"},
            "spec": {"controller": "traefik.io/ingress-controller"},
        }
    )


def _tls_files(folder: Path, host: str) -> None:
    subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-nodes",
            "-days",
            "1",
            "-subj",
            f"/CN={host}",
            "-addext",
            f"subjectAltName=DNS:{host}",
            "-keyout",
            str(folder / "tls.key"),
            "-out",
            str(folder / "tls.crt"),
        ],
        check=True,
        capture_output=True,
    )


def prepare_downstream(stack: Stack, spec: ClusterSpec, embedding_key: str) -> None:
    """Nodes, k3s stand-ins, node labels and taints and the Secrets, the last two by the guide
    (embedding_key: the fleet-wide one the guide's block reads, the same for every cluster)."""
    plane, kube = stack.planes[spec.name], stack.kubes[spec.name]
    plane.add_nodes(EDGE_NODES if spec is EDGE else CLOUD_NODES)
    _k3s_standins(kube, "local-path" if spec is EDGE else "standard")
    for node in EDGE_TIER_NODES[spec.name]:
        guide.run("3", spec.kubeconfig, spec.folder, {"<node>": node})
    with tempfile.TemporaryDirectory() as tmp:
        _tls_files(Path(tmp), PUBLIC_HOST[spec.name])
        guide.run("4", spec.kubeconfig, Path(tmp), variables={"EMBEDDING_KEY": embedding_key})
    if spec.name != HOME:
        # A replica's facefleet-sync, made by the guide's command. The home would issue the
        # credential (PUT /v1/sync/sites/<site>), but no container runs here: a made-up one in the
        # format the recognizer checks stands in for it.
        guide.run(
            "4",
            spec.kubeconfig,
            spec.folder,
            keep_lines="facefleet-sync",
            heading=SYNC_GUIDE,
            variables={
                "HOME_URL": f"https://{PUBLIC_HOST[HOME]}",
                "CREDENTIAL": f"ffs1.{spec.name}.{secrets.token_urlsafe(32)}",
            },
        )


def up() -> Stack:
    """Start everything from scratch; returns when both agents have registered and the GitRepo exists."""
    down(quiet=True)
    shutil.rmtree(STATE, ignore_errors=True)
    shutil.rmtree(ARTIFACTS, ignore_errors=True)
    STATE.mkdir(parents=True)
    ARTIFACTS.mkdir(parents=True)
    stack = Stack()
    t0 = time.monotonic()
    gitserver.seed()
    gitserver.start_daemon()
    for spec in CLUSTERS:
        plane = ControlPlane(spec)
        plane.prepare()
        plane.start_storage()
        stack.planes[spec.name] = plane
    for spec in CLUSTERS:
        stack.planes[spec.name].start_apiserver()
        stack.kubes[spec.name] = stack.planes[spec.name].kube
        stack.planes[spec.name].start_controllers()
    _log(f"three API servers ready after {time.monotonic() - t0:.1f} s")
    for spec in DOWNSTREAM:
        stack.planes[spec.name].start_kwok([STANDINS])

    mgmt = stack.management
    fleet.install_crds(mgmt)
    fleet.install_system_objects(mgmt)
    fleet.start_controller()
    procs.start("gitjob-runner", [sys.executable, "-m", "tools.rehearsal.jobrunner"], cwd=ROOT)
    embedding_key = secrets.token_hex(32)  # one per fleet, as the guide makes it
    for spec in DOWNSTREAM:
        prepare_downstream(stack, spec, embedding_key)
    values = fleet.registration_values(mgmt)
    for spec in DOWNSTREAM:
        fleet.create_cluster(mgmt, spec)
        fleet.start_agent(stack.kubes[spec.name], spec, values)
    for spec in DOWNSTREAM:
        fleet.wait_registered(mgmt, spec)
        guide.run(
            "2",
            MANAGEMENT.kubeconfig,
            STATE,
            {
                "<cluster>": spec.name,
                "=edge    # or cloud": f"={GROUP[spec.name]}",
                "line3.plant.example.com": PUBLIC_HOST[spec.name],
            },
            drop_lines=None if spec.name == HOME else "facefleet.io/home=true",  # the home label: once
        )
    _log(f"agents registered after {time.monotonic() - t0:.1f} s")
    fleet.apply_management_objects(mgmt, gitserver.URL, POLLING_INTERVAL)
    return stack


def down(quiet: bool = False) -> None:
    names = procs.stop_all()
    if names and not quiet:
        _log(f"stopped {len(names)} processes: {', '.join(names)}")


def collect_logs() -> None:
    """Copy what the API servers and Fleet wrote into test-artifacts/rehearsal/ (the process logs
    are there already): the gitjob runner's job outputs and each cluster's events."""
    jobs = STATE / "jobs"
    if jobs.exists():
        for log in jobs.glob("*/output.log"):
            target = ARTIFACTS / "jobs" / f"{log.parent.name}.log"
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy(log, target)
    for spec in CLUSTERS:
        if not spec.kubeconfig.exists():
            continue
        try:
            kube = Kube(spec, timeout=5)
            events = kube.kubectl("get", "events", "-A", "--sort-by=.lastTimestamp", check=False).stdout
            (ARTIFACTS / f"events-{spec.name}.txt").write_text(events)
        except Exception as err:  # the API server may be the thing that failed
            (ARTIFACTS / f"events-{spec.name}.txt").write_text(f"could not read events: {err}\n")
