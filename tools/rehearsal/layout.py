"""Where the rehearsal keeps things, and the fixed names and ports the outside world relies on.

Everything listens on 127.0.0.1. Ports sit in one block, 26000-26999: below the kernel's
ephemeral range (32768 and up, which outgoing connections draw from) and away from `make run`
(8000, 8501, 27017) and a developer's own cluster (6443)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
STATE = ROOT / ".rehearsal"  # kubeconfigs, PKI, pids, data: ignored by git, removed by `down`
ARTIFACTS = ROOT / "test-artifacts" / "rehearsal"  # logs and the report, kept after `down`
BIN = ROOT / ".tools" / "rehearsal" / "bin"
FLEET_CLI = ROOT / ".tools" / "bin" / "fleet"
HELM = ROOT / ".tools" / "bin" / "helm"


FLEET_NAMESPACE = "cattle-fleet-system"
WORKSPACE = "fleet-default"
GITREPO = "facefleet"
APP_NAMESPACE = "facefleet"
HOST = "127.0.0.1"


@dataclass(frozen=True)
class ClusterSpec:
    """One rehearsal cluster: its name and its block of ports."""

    name: str
    port_base: int

    @property
    def apiserver_port(self) -> int:
        return self.port_base

    @property
    def etcd_client_port(self) -> int:
        return self.port_base + 1

    @property
    def etcd_peer_port(self) -> int:
        return self.port_base + 2

    @property
    def controller_manager_port(self) -> int:
        return self.port_base + 3

    @property
    def scheduler_port(self) -> int:
        return self.port_base + 4

    @property
    def kwok_port(self) -> int:
        return self.port_base + 5

    @property
    def agent_metrics_port(self) -> int:
        return self.port_base + 6

    @property
    def agent_probe_port(self) -> int:
        return self.port_base + 7

    @property
    def server(self) -> str:
        return f"https://{HOST}:{self.apiserver_port}"

    @property
    def folder(self) -> Path:
        return STATE / self.name

    @property
    def kubeconfig(self) -> Path:
        """The file outside checks use (DESIGN.md: .rehearsal/kubeconfig-<cluster>)."""
        return STATE / f"kubeconfig-{self.name}"


MANAGEMENT = ClusterSpec("management", 26100)
EDGE = ClusterSpec("edge-1", 26200)
CLOUD = ClusterSpec("cloud-1", 26300)
DOWNSTREAM = (EDGE, CLOUD)
CLUSTERS = (MANAGEMENT, *DOWNSTREAM)

# Fleet's controller on the management cluster.
CONTROLLER_METRICS_PORT = 26010
CONTROLLER_PROBE_PORT = 26011
GITJOB_PORT = 26012
AGENTMGMT_METRICS_PORT = 26013
AGENTMGMT_PROBE_PORT = 26014
GITJOB_METRICS_PORT = 26015
GIT_DAEMON_PORT = 26020
