"""One Kubernetes cluster as plain processes: etcd, kube-apiserver (Pod Security admission on, as
in k3s), kube-controller-manager, kube-scheduler, and kwok for the nodes and the pod lifecycle."""

from __future__ import annotations

import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from . import procs
from .kube import Kube, wait_for, write_kubeconfig
from .layout import BIN, HOST, ROOT, ClusterSpec
from .pki import ClusterPKI, make_cluster_pki

SERVICE_CIDR = "10.43.0.0/16"  # k3s's default; only ever a value in objects, never a target
POD_CIDR = "10.42.0.0/16"
KWOK_VERSION = "v0.8.0"
_KWOK_STAGES = (
    "node/fast/node-initialize.yaml",
    "node/heartbeat-with-lease/node-heartbeat-with-lease.yaml",
    "pod/fast/pod-ready.yaml",
    "pod/fast/pod-complete.yaml",
    "pod/fast/pod-delete.yaml",
)


@dataclass(frozen=True)
class NodeSpec:
    """A kwok node: its name, size, architecture, labels and taints."""

    name: str
    cpu: str
    memory: str
    arch: str = "amd64"
    labels: dict[str, str] = field(default_factory=dict)
    taints: tuple[dict[str, str], ...] = ()

    def manifest(self) -> dict:
        labels = {
            "kubernetes.io/hostname": self.name,
            "kubernetes.io/os": "linux",
            "kubernetes.io/arch": self.arch,
            "type": "kwok",
            **self.labels,
        }
        resources = {"cpu": self.cpu, "memory": self.memory, "pods": "110", "ephemeral-storage": "50Gi"}
        return {
            "apiVersion": "v1",
            "kind": "Node",
            "metadata": {
                "name": self.name,
                "labels": labels,
                "annotations": {"kwok.x-k8s.io/node": "fake", "node.alpha.kubernetes.io/ttl": "0"},
            },
            "spec": {"taints": [dict(t) for t in self.taints]},
            "status": {
                "allocatable": resources,
                "capacity": resources,
                "nodeInfo": {"architecture": self.arch, "operatingSystem": "linux", "kubeletVersion": "v1.31.0+k3s1"},
            },
        }


def kwok_stage_dir() -> Path:
    """kwok's own stage files, from the module the binary was built from (Go module cache)."""
    folder = module_dir(f"sigs.k8s.io/kwok@{KWOK_VERSION}") / "kustomize" / "stage"
    if not folder.is_dir():
        raise FileNotFoundError(f"{folder} is missing: run `make rehearsal-engines`")
    return folder


def module_dir(module_at_version: str) -> Path:
    """Where a Go module's source sits: the project's module cache (mk/), else `go env GOMODCACHE`."""
    own = ROOT / ".cache" / "go" / "mod" / module_at_version
    if own.is_dir():
        return own
    gomodcache = subprocess.run(["go", "env", "GOMODCACHE"], capture_output=True, text=True).stdout.strip()
    return Path(gomodcache) / module_at_version


class ControlPlane:
    """Start, stop and reach one cluster. Process names are prefixed with the cluster's name."""

    def __init__(self, spec: ClusterSpec) -> None:
        self.spec = spec
        self.pki = ClusterPKI(spec.folder / "pki")
        self.kube: Kube | None = None

    def _name(self, component: str) -> str:
        return f"{self.spec.name}.{component}"

    def prepare(self) -> None:
        """Fresh data folder, certificates and kubeconfig."""
        shutil.rmtree(self.spec.folder, ignore_errors=True)
        (self.spec.folder / "etcd").mkdir(parents=True)
        make_cluster_pki(self.pki.folder, self.spec.name)
        write_kubeconfig(self.spec)

    def start_storage(self) -> None:
        s = self.spec
        procs.start(
            self._name("etcd"),
            [
                str(BIN / "etcd"),
                "--name",
                s.name,
                "--data-dir",
                str(s.folder / "etcd"),
                "--listen-client-urls",
                f"http://{HOST}:{s.etcd_client_port}",
                "--advertise-client-urls",
                f"http://{HOST}:{s.etcd_client_port}",
                "--listen-peer-urls",
                f"http://{HOST}:{s.etcd_peer_port}",
                "--initial-advertise-peer-urls",
                f"http://{HOST}:{s.etcd_peer_port}",
                "--initial-cluster",
                f"{s.name}=http://{HOST}:{s.etcd_peer_port}",
                "--listen-metrics-urls",
                "",
                "--quota-backend-bytes",
                str(2 << 30),
                "--unsafe-no-fsync",
                "--log-level",
                "warn",
            ],
        )

    def start_apiserver(self) -> None:
        s, p = self.spec, self.pki
        procs.start(
            self._name("kube-apiserver"),
            [
                str(BIN / "kube-apiserver"),
                "--etcd-servers",
                f"http://{HOST}:{s.etcd_client_port}",
                "--bind-address",
                HOST,
                "--advertise-address",
                HOST,
                "--secure-port",
                str(s.apiserver_port),
                "--tls-cert-file",
                str(p.server_cert),
                "--tls-private-key-file",
                str(p.server_key),
                "--client-ca-file",
                str(p.ca_cert),
                "--service-account-issuer",
                "https://kubernetes.default.svc.cluster.local",
                "--service-account-key-file",
                str(p.sa_pub),
                "--service-account-signing-key-file",
                str(p.sa_key),
                "--service-cluster-ip-range",
                SERVICE_CIDR,
                "--authorization-mode",
                "Node,RBAC",
                # k3s's admission set; PodSecurity is on by default and enforces the namespace labels.
                "--enable-admission-plugins",
                "NodeRestriction,PodSecurity,DefaultStorageClass,ResourceQuota",
                "--endpoint-reconciler-type",
                "none",
                "--profiling=false",
                "--v",
                "1",
            ],
        )
        self.kube = Kube(self.spec)
        wait_for(f"{s.name}: kube-apiserver /readyz", self.kube.ready, timeout=90, interval=0.5)

    def start_controllers(self) -> None:
        s, p = self.spec, self.pki
        kubeconfig = str(s.kubeconfig)
        procs.start(
            self._name("kube-controller-manager"),
            [
                str(BIN / "kube-controller-manager"),
                "--kubeconfig",
                kubeconfig,
                "--authentication-kubeconfig",
                kubeconfig,
                "--authorization-kubeconfig",
                kubeconfig,
                "--bind-address",
                HOST,
                "--secure-port",
                str(s.controller_manager_port),
                "--service-account-private-key-file",
                str(p.sa_key),
                "--root-ca-file",
                str(p.ca_cert),
                "--cluster-signing-cert-file",
                str(p.ca_cert),
                "--cluster-signing-key-file",
                str(p.ca_key),
                "--use-service-account-credentials",
                "--cluster-cidr",
                POD_CIDR,
                "--service-cluster-ip-range",
                SERVICE_CIDR,
                # No cloud provider here; and no HPA controller: kwok's pods use no CPU and there is no
                # metrics API (k3s ships metrics-server), so it could only report errors.
                "--controllers",
                "*,-nodeipam,-cloud-node-lifecycle,-service-lb-controller,-route,-horizontal-pod-autoscaler-controller",
                "--leader-elect=false",
                "--v",
                "1",
            ],
        )
        procs.start(
            self._name("kube-scheduler"),
            [
                str(BIN / "kube-scheduler"),
                "--kubeconfig",
                kubeconfig,
                "--authentication-kubeconfig",
                kubeconfig,
                "--authorization-kubeconfig",
                kubeconfig,
                "--bind-address",
                HOST,
                "--secure-port",
                str(s.scheduler_port),
                "--leader-elect=false",
                "--v",
                "1",
            ],
        )

    def start_kwok(self, extra_stages: list[Path] = ()) -> None:
        stages = kwok_stage_dir()
        config = self.spec.folder / "kwok.yaml"
        docs = [
            yaml.safe_dump(
                {
                    "apiVersion": "config.kwok.x-k8s.io/v1alpha1",
                    "kind": "KwokConfiguration",
                    "options": {
                        "cidr": POD_CIDR,
                        "nodeIP": HOST,
                        "nodeLeaseDurationSeconds": 40,
                        # a config file replaces kwok's defaults, these included
                        "podPlayStageParallelism": 4,
                        "nodePlayStageParallelism": 4,
                        "nodeLeaseParallelism": 4,
                        "podsOnNodeSyncParallelism": 4,
                    },
                }
            )
        ]
        docs += [(stages / name).read_text() for name in _KWOK_STAGES]
        docs += [path.read_text() for path in extra_stages]
        config.write_text("\n---\n".join(doc.strip() for doc in docs) + "\n")
        procs.start(
            self._name("kwok"),
            [
                str(BIN / "kwok"),
                "--kubeconfig",
                str(self.spec.kubeconfig),
                "--config",
                str(config),
                "--manage-nodes-with-annotation-selector",
                "kwok.x-k8s.io/node=fake",
                "--node-lease-duration-seconds",
                "40",
                "--server-address",
                f"{HOST}:{self.spec.kwok_port}",
            ],
        )

    def add_nodes(self, nodes: list[NodeSpec]) -> None:
        assert self.kube is not None
        for node in nodes:
            self.kube.apply(node.manifest())
        names = {n.name for n in nodes}
        wait_for(
            f"{self.spec.name}: nodes {sorted(names)} Ready",
            lambda: (
                names
                <= {
                    n["metadata"]["name"]
                    for n in self.kube.list("Node")
                    if any(c["type"] == "Ready" and c["status"] == "True" for c in n["status"].get("conditions", []))
                }
            ),
            timeout=60,
        )

    # The offline step: k3s runs the API server, controller manager and scheduler in one server
    # process, so an edge site's server going away takes all three; etcd (the data) and kwok (the
    # nodes' kubelets) keep running.
    def stop_server(self) -> None:
        for component in ("kube-scheduler", "kube-controller-manager", "kube-apiserver"):
            procs.stop(self._name(component))

    def start_server(self) -> None:
        self.start_apiserver()
        self.start_controllers()
