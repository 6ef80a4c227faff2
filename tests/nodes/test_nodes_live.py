"""The checks against this very machine, through testinfra's local:// backend AND a real ssh://
connection to a throwaway sshd on 127.0.0.1. The machine need not pass preflight: the tests
compare each verdict with what Python itself reads from /proc, force every rule to fail with
thresholds the host cannot meet, make rules pass where the host allows it, and pin postflight's
messages on a machine without k3s."""

from __future__ import annotations

import http.server
import os
import re
import shutil
import socket
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tools.nodecheck.config import load_groups, load_thresholds
from tools.nodecheck.inventory import Inventory, NodeSpec
from tools.nodecheck.model import Finding
from tools.nodecheck.runner import Plan

pytestmark = pytest.mark.timeout(180)


# ---------------------------------------------------------------- helpers
@pytest.fixture(params=["local", "ssh"])
def backend(request) -> dict[str, Any]:
    """How to reach this machine: testinfra's local backend, or ssh to the throwaway sshd."""
    if request.param == "local":
        return {"address": "local://"}
    server = request.getfixturevalue("sshd")
    return {
        "address": server.address,
        "ssh_config": str(server.ssh_config),
        "ssh_identity_file": str(server.identity_file),
    }


_PLAIN: dict[tuple[str, str], dict[str, Finding]] = {}


def plain_preflight(backend: dict[str, Any], group: str) -> dict[str, Finding]:
    """Preflight with the committed thresholds, run once per backend and group for this module."""
    key = (backend["address"], group)
    if key not in _PLAIN:
        _PLAIN[key] = run_checks(backend, group)
    return _PLAIN[key]


def run_checks(
    backend: dict[str, Any],
    group: str = "edge",
    phase: str = "preflight",
    overrides: dict | None = None,
    rancher_url: str | None = None,
    role: str = "server",
    **node_kw: Any,
) -> dict[str, Finding]:
    node = NodeSpec(name="this-machine", address=backend["address"], group=group, role=role, **node_kw)
    inventory = Inventory(
        nodes=(node,),
        rancher_url=rancher_url,
        ssh_config=backend.get("ssh_config"),
        ssh_identity_file=backend.get("ssh_identity_file"),
    )
    plan = Plan(inventory, load_thresholds(overrides=overrides), groups=load_groups())
    return {f.check: f for f in plan.check_node(node, phase)}


def statuses(findings: dict[str, Finding]) -> dict[str, str]:
    return {name: f.status for name, f in findings.items()}


def read(path: str) -> str:
    try:
        return Path(path).read_text()
    except OSError:
        return ""


def process_names() -> set[str]:
    names = set()
    for comm in Path("/proc").glob("[0-9]*/comm"):
        names.add(read(str(comm)).strip())
    return names


@pytest.fixture
def rancher_stub() -> Iterator[str]:
    """A local stand-in for the Rancher server: GET /ping answers pong, anything else 404."""

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
            ok = self.path == "/ping"
            body = b"pong" if ok else b"not found"
            self.send_response(200 if ok else 404)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: Any) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# ---------------------------------------------------------------- preflight through both backends
def test_local_and_ssh_reach_the_same_verdicts(sshd):
    ssh = {"address": sshd.address, "ssh_config": str(sshd.ssh_config), "ssh_identity_file": str(sshd.identity_file)}
    for group in ("edge", "cloud"):
        local, remote = plain_preflight({"address": "local://"}, group), plain_preflight(ssh, group)
        assert statuses(local) == statuses(remote)
        assert local["reachable"].message == "this-machine answers over local"
        assert remote["reachable"].message == "this-machine answers over ssh"
        for name in local.keys() - {"reachable", "memory", "disk"}:  # free memory/disk drift
            assert local[name].message == remote[name].message, name


def test_preflight_verdicts_match_what_python_reads(backend):
    found = plain_preflight(backend, "cloud")
    assert list(found) == [
        "reachable",
        "os",
        "cgroup_v2",
        "module_overlay",
        "module_br_netfilter",
        "ip_forward",
        "bridge_nf",
        "swap",
        "time_sync",
        "memory",
        "cpu_count",
        "cpu_features",
        "disk",
        "ports",
        "hostname",
        "rancher",
    ]
    assert found["reachable"].status == "pass"
    v2 = os.path.exists("/sys/fs/cgroup/cgroup.controllers")
    assert found["cgroup_v2"].status == ("pass" if v2 else "fail")
    forward = read("/proc/sys/net/ipv4/ip_forward").strip()
    assert found["ip_forward"].status == ("pass" if forward == "1" else "fail")
    assert forward in found["ip_forward"].message
    swapping = len([ln for ln in read("/proc/swaps").splitlines() if ln.strip()]) > 1
    assert found["swap"].status == ("fail" if swapping else "pass")
    daemons = process_names() & set(load_thresholds()["time_sync_daemons"])
    assert found["time_sync"].status == ("pass" if daemons else "fail")
    cpus = len(os.sched_getaffinity(0))
    assert found["cpu_count"].status == ("pass" if cpus >= 4 else "fail")
    assert f"{cpus} CPU" in found["cpu_count"].message
    total = int(re.search(r"MemTotal:\s+(\d+)", read("/proc/meminfo")).group(1)) // 1024
    assert f"{total} MiB" in found["memory"].message
    flags = set(re.search(r"^(?:flags|Features)\s*:(.*)$", read("/proc/cpuinfo"), re.M).group(1).split())
    if os.uname().machine == "x86_64":
        assert found["cpu_features"].status == ("pass" if "avx" in flags else "fail")
    hostname = found["hostname"]
    assert (
        hostname.message.startswith(socket.gethostname())
        if hostname.status == "pass"
        else f"hostname {socket.gethostname()!r}" in hostname.message
    )
    assert found["rancher"].status == "skip"
    for f in found.values():
        if f.status == "fail":
            assert f.message.startswith(f"{f.check}: found ") and "; fix: " in f.message


def test_every_rule_fails_when_the_host_falls_short(backend):
    """Thresholds above what any machine has: each rule must say so, in its one sentence.
    (swap and hostname cannot be broken on a live host without harming it: their failures are
    proven on recorded outputs in test_nodes_preflight_rules.py.)"""
    arch = os.uname().machine
    os_id = dict(re.findall(r'^(\w+)="?([^"\n]*)"?$', read("/etc/os-release"), re.M))["ID"]
    with socket.socket() as tcp, socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
        tcp.bind(("127.0.0.1", 0))
        tcp.listen()
        udp.bind(("127.0.0.1", 0))
        tport, uport = tcp.getsockname()[1], udp.getsockname()[1]
        port = closed_port()
        found = run_checks(
            backend,
            "cloud",
            rancher_url=f"http://127.0.0.1:{port}",
            overrides={
                "supported_os": {os_id: "999"},
                "min_kernel": "99.1",
                "cgroup_controllers": ["cpu", "memory", "pids", "nodecheck-none"],
                "kernel_modules": ["overlay", "nodecheck_absent"],
                "sysctls": {
                    "ip_forward": {"net.ipv4.ip_forward": "7"},
                    "bridge_nf": {"net.bridge.bridge-nf-call-iptables": "9"},
                },
                "time_sync_daemons": ["nodecheck-ntpd"],
                "groups": {
                    "cloud": {
                        "min_cpus": 4096,
                        "min_memory_mib": 10**9,
                        "min_available_memory_mib": 10**9,
                        "min_free_disk_gib": 10**7,
                        "cpu_features": {arch: ["nodecheck_flag"]},
                    }
                },
                "ports": {"server": {"tcp": {tport: "test listener"}, "udp": {uport: "test socket"}}},
            },
        )
    expected = {
        "os": f"expected {os_id} 999 or newer and kernel 99.1 or newer",
        "cgroup_v2": "expected ",
        "module_nodecheck_absent": "found no trace of nodecheck_absent",
        "ip_forward": "expected net.ipv4.ip_forward=7",
        "bridge_nf": "expected net.bridge.bridge-nf-call-iptables=9",
        "time_sync": "(looked for nodecheck-ntpd), expected one of them running",
        "memory": "expected at least 1000000000 MiB for the cloud group",
        "cpu_count": "expected at least 4096 for the cloud group",
        "cpu_features": "without nodecheck_flag, expected nodecheck_flag for mongodb",
        "disk": "expected at least 10000000 GiB for the cloud group",
        "ports": f"found in use: {tport}/tcp (test listener), {uport}/udp (test socket)",
        "rancher": f"found http://127.0.0.1:{port}/ping unreachable from this host (curl: (7)",
    }
    for name, words in expected.items():
        f = found[name]
        assert f.status == "fail", f
        assert f.message.startswith(f"{name}: found ") and "; fix: " in f.message, f
        assert words in f.message, (words, f.message)
    assert found["module_overlay"].status == "pass"


def test_rules_pass_where_the_host_allows(backend, rancher_stub, tmp_path):
    """The same rules pass live once the host meets them: lowered thresholds, a time daemon
    (a process named chronyd), sysctls at the host's values, the Rancher stand-in answering."""
    chronyd = tmp_path / "chronyd"
    shutil.copy("/bin/sleep", chronyd)
    proc = subprocess.Popen([str(chronyd), "120"])
    osr = dict(re.findall(r'^(\w+)="?([^"\n]*)"?$', read("/etc/os-release"), re.M))
    arch = os.uname().machine
    flag = sorted(set(re.search(r"^(?:flags|Features)\s*:(.*)$", read("/proc/cpuinfo"), re.M).group(1).split()))[0]
    try:
        found = run_checks(
            backend,
            "cloud",
            rancher_url=rancher_stub + "/",
            overrides={
                "supported_os": {osr["ID"]: "0"},
                "min_kernel": "2.6",
                "architectures": [arch],
                "sysctls": {"ip_forward": {"net.ipv4.ip_forward": read("/proc/sys/net/ipv4/ip_forward").strip()}},
                "groups": {
                    "cloud": {
                        "min_cpus": 1,
                        "min_memory_mib": 1,
                        "min_available_memory_mib": 1,
                        "min_free_disk_gib": 0,
                        "cpu_features": {arch: [flag]},
                    }
                },
            },
        )
    finally:
        proc.kill()
        proc.wait()
    for name in ("os", "ip_forward", "time_sync", "memory", "cpu_count", "cpu_features", "disk", "rancher"):
        assert found[name].status == "pass", found[name]
    assert found["time_sync"].message.startswith("chronyd running")
    assert found["rancher"].message == f"{rancher_stub}/ping answered HTTP 200"


def test_rancher_answering_something_else_fails(backend, rancher_stub):
    found = run_checks(backend, rancher_url=rancher_stub + "/not-rancher")
    assert found["rancher"].message == (
        f"rancher: found HTTP 404 from {rancher_stub}/not-rancher/ping, expected HTTP 200 (pong); "
        "fix: check that the URL points at the Rancher server itself, not a proxy page."
    )


# ---------------------------------------------------------------- postflight here: no k3s
SHELL_NOT_FOUND = r"(/bin/)?sh: (1: k3s: not found|line 1: k3s: command not found|k3s: not found)"


@pytest.mark.skipif(shutil.which("k3s") is not None, reason="k3s is installed on this machine")
def test_postflight_fails_here_with_helpful_messages(backend):
    found = run_checks(backend, "edge", phase="postflight")
    assert list(found) == [
        "reachable",
        "k3s_service",
        "k3s_config",
        "node_ready",
        "node_version",
        "node_labels",
        "node_taints",
        "fleet_agent",
        "facefleet_pods",
        "recognizer_readyz",
    ]
    assert statuses(found) == {"reachable": "pass", **dict.fromkeys(list(found)[1:], "fail")}
    if not os.path.isdir("/run/systemd/system"):  # no systemd as PID 1 (a container or sandbox)
        assert found["k3s_service"].message == (
            "k3s_service: found no systemd on this host (System has not been booted with systemd "
            "as init system (PID 1). Can't operate.), so no k3s service, expected k3s active and "
            "enabled under systemd; fix: run the check on the machine itself (not a container) "
            "and install k3s with `curl -sfL https://get.k3s.io | sh -`."
        )
    else:
        assert found["k3s_service"].message.startswith("k3s_service: found k3s inactive and ")
    assert re.fullmatch(
        re.escape("k3s_config: found no readable /etc/rancher/k3s/config.yaml (stat: cannot ")
        + r"statx? "
        + re.escape(
            "'/etc/rancher/k3s/config.yaml': No such file or directory), expected "
            "/etc/rancher/k3s/config.yaml owned by root:root with mode 0600; fix: write the "
            "k3s settings there before installing, then `chown root:root "
            "/etc/rancher/k3s/config.yaml && chmod 600 /etc/rancher/k3s/config.yaml` (it "
            "can hold the cluster token)."
        ),
        found["k3s_config"].message,
    )
    node = socket.gethostname().lower()
    fix = (
        "; fix: run postflight after k3s is installed and the node has joined, and for an "
        "agent set kubectl_host in the inventory to a server."
    )
    cluster = {
        "node_ready": (f"k3s kubectl get node {node} -o json", "the node Ready"),
        "node_version": (f"k3s kubectl get node {node} -o json", "kubelet v1.31.x"),
        "node_labels": (f"k3s kubectl get node {node} -o json", "the group's node labels"),
        "node_taints": (f"k3s kubectl get node {node} -o json", "the group's node taints"),
        "fleet_agent": (
            "k3s kubectl get pods -n cattle-fleet-system -o json",
            "a Ready fleet-agent pod in cattle-fleet-system",
        ),
        "facefleet_pods": ("k3s kubectl get pods -n facefleet -o json", "every pod in facefleet Ready"),
        "recognizer_readyz": (
            "k3s kubectl get pods -n facefleet -o json",
            "HTTP 200 from the recognizer's /readyz through its Service",
        ),
    }
    for name, (command, wanted) in cluster.items():
        pattern = (
            re.escape(f"{name}: found `{command}` failing (")
            + SHELL_NOT_FOUND
            + re.escape(f"), expected {wanted}{fix}")
        )
        assert re.fullmatch(pattern, found[name].message), found[name].message


def test_agent_without_a_server_in_the_inventory_says_so(backend):
    found = run_checks(backend, "edge", phase="postflight", role="agent")
    assert found["node_ready"].message.startswith("node_ready: found `k3s kubectl get node ")
    assert "failing (no server in the inventory to run kubectl on for this agent)" in found["node_ready"].message
    assert "k3s-agent" in found["k3s_service"].message


# ---------------------------------------------------------------- hosts that cannot be reached
def test_unreachable_host_is_one_clear_line(sshd):
    port = closed_port()
    found = run_checks(
        {
            "address": f"ssh://root@127.0.0.1:{port}",
            "ssh_config": str(sshd.ssh_config),
            "ssh_identity_file": str(sshd.identity_file),
        }
    )
    assert found["reachable"].message == (
        f"reachable: found no connection to ssh://root@127.0.0.1:{port} (ssh: connect to host "
        f"127.0.0.1 port {port}: Connection refused), expected a shell on the host; fix: check "
        "the address and port, that sshd runs there and that the inventory's user and key are "
        "authorised."
    )
    assert {f.status for name, f in found.items() if name != "reachable"} == {"skip"}


def test_wrong_key_is_reported_as_unreachable(sshd):
    found = run_checks(
        {"address": sshd.address, "ssh_config": str(sshd.ssh_config), "ssh_identity_file": str(sshd.other_key)}
    )
    assert found["reachable"].status == "fail"
    assert "(root@127.0.0.1: Permission denied (publickey).)" in found["reachable"].message


def test_unreachable_kubectl_host_is_named_in_each_cluster_check(sshd):
    port = closed_port()
    kube = f"ssh://root@127.0.0.1:{port}"
    found = run_checks(
        {"address": "local://", "ssh_config": str(sshd.ssh_config), "ssh_identity_file": str(sshd.identity_file)},
        "edge",
        phase="postflight",
        role="agent",
        kubectl_host=kube,
    )
    assert found["reachable"].status == "pass"
    for name in ("node_ready", "node_labels", "fleet_agent", "recognizer_readyz"):
        assert found[name].message == (
            f"{name}: found {kube} unreachable while checking (ssh: connect to host 127.0.0.1 "
            f"port {port}: Connection refused), expected the connection to stay up; fix: check "
            "the network and run the checks again."
        )


def test_recorded_outputs_replay_to_the_same_findings(backend, tmp_path):
    """What a host answered can be saved (make check-nodes RECORD=dir) and replayed offline: the
    rules are pure functions of those outputs, so the findings must come out identical."""
    import json

    node = NodeSpec(name="this-machine", address=backend["address"], group="cloud")
    inventory = Inventory(
        nodes=(node,), ssh_config=backend.get("ssh_config"), ssh_identity_file=backend.get("ssh_identity_file")
    )
    plan = Plan(inventory, load_thresholds(), groups=load_groups())
    live = plan.check_node(node, "preflight") + plan.check_node(node, "postflight")
    saved = tmp_path / "recording.json"
    saved.write_text(json.dumps(plan.recording(node)))
    recorded = json.loads(saved.read_text())
    assert "cat /proc/cpuinfo" in recorded["node"] and "echo nodecheck-ok" in recorded["node"]
    offline = Plan(Inventory(nodes=(node,)), load_thresholds(), groups=load_groups())
    replayed = offline.check_node(node, "preflight", recorded) + offline.check_node(node, "postflight", recorded)
    assert replayed == live
