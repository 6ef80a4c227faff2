"""Postflight rules driven by recorded systemctl/stat/kubectl outputs (tests/nodes/fixtures/):
the exact commands each rule runs, how it parses their JSON, and its one-sentence verdicts."""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from typing import Any

import pytest
import yaml

from tools.nodecheck.config import load_groups
from tools.nodecheck.model import Output
from tools.nodecheck.postflight import postflight_rules, probe_pod
from tools.nodecheck.rules import Runners

RULES = {r.name: r for r in postflight_rules({})}
NODE_CMD = "k3s kubectl get node line-3-pi -o json"
FLEET_CMD = "k3s kubectl get pods -n cattle-fleet-system -o json"
APP_CMD = "k3s kubectl get pods -n facefleet -o json"


class FakeHost:
    """Answers only the commands it was given (an unexpected command fails the test)."""

    def __init__(self, answers: dict[str, Output]):
        self.answers, self.asked = answers, []

    def __call__(self, command: str) -> Output:
        self.asked.append(command)
        for prefix, answer in self.answers.items():
            if command == prefix or (prefix.endswith("*") and command.startswith(prefix[:-1])):
                return answer
        raise AssertionError(f"unexpected command: {command}")


def recorded(fixture_json, command: str, case: str) -> Output:
    o = fixture_json("commands.json")[command][case]
    return Output(o["rc"], o["stdout"], o["stderr"])


def as_output(obj: Any) -> Output:
    return Output(0, json.dumps(obj))


def check(name: str, ctx, node: dict[str, Output], cluster: dict[str, Output] | None = None):
    host = FakeHost(node)
    kube = FakeHost(cluster or {}) if cluster is not None else host
    return RULES[name].check(Runners(node=host, cluster=kube), ctx), kube


@pytest.fixture
def pi(make_ctx) -> Callable[..., Any]:
    """Context of the edge server 'line-3-pi' (postflight names the node explicitly)."""
    return lambda group="edge", role="server": make_ctx(group, role, node_name="line-3-pi")


# ---------------------------------------------------------------- k3s service
@pytest.mark.parametrize(
    "active, enabled, status, words",
    [
        ("active", "enabled", "pass", "k3s is active and enabled"),
        (
            "failed",
            "enabled",
            "fail",
            "k3s_service: found k3s failed and enabled, expected k3s active "
            "and enabled; fix: install k3s with `curl -sfL https://get.k3s.io | sh -` or run `systemctl "
            "enable --now k3s`, then read `journalctl -u k3s`.",
        ),
        (
            "not_installed",
            "not_installed",
            "fail",
            "found k3s inactive and Failed to get unit file state for k3s.service: No such file or directory, expected",
        ),
        (
            "no_systemd",
            "not_installed",
            "fail",
            "found no systemd on this host (System has not been "
            "booted with systemd as init system (PID 1). Can't operate.), so no k3s service",
        ),
    ],
)
def test_k3s_service(pi, fixture_json, active, enabled, status, words):
    f, _ = check(
        "k3s_service",
        pi(),
        {
            "systemctl is-active k3s": recorded(fixture_json, "systemctl is-active k3s", active),
            "systemctl is-enabled k3s": recorded(fixture_json, "systemctl is-enabled k3s", enabled),
        },
    )
    assert f.status == status and words in f.message


def test_agent_checks_the_agent_unit(pi, fixture_json):
    f, host = check(
        "k3s_service",
        pi(role="agent"),
        {
            "systemctl is-active k3s-agent": Output(3, "inactive\n"),
            "systemctl is-enabled k3s-agent": Output(1, "disabled\n"),
        },
    )
    assert host.asked == ["systemctl is-active k3s-agent", "systemctl is-enabled k3s-agent"]
    assert "k3s-agent inactive and disabled" in f.message and "K3S_URL=" in f.message


# ---------------------------------------------------------------- config file
STAT = "stat -c '%U:%G %a' /etc/rancher/k3s/config.yaml"


def test_k3s_config(pi, fixture_json):
    f, _ = check("k3s_config", pi(), {STAT: recorded(fixture_json, STAT, "ok")})
    assert f.status == "pass" and f.message == "/etc/rancher/k3s/config.yaml owned by root:root, mode 0600"
    f, _ = check("k3s_config", pi(), {STAT: recorded(fixture_json, STAT, "world_readable")})
    assert f.message == (
        "k3s_config: found /etc/rancher/k3s/config.yaml owned by root:root with "
        "mode 0644, expected owner root:root and mode 0600; fix: run `chown "
        "root:root /etc/rancher/k3s/config.yaml && chmod 600 "
        "/etc/rancher/k3s/config.yaml` (it can hold the cluster token)."
    )
    f, _ = check("k3s_config", pi(), {STAT: recorded(fixture_json, STAT, "missing")})
    assert f.status == "fail" and "found no readable /etc/rancher/k3s/config.yaml (stat: cannot" in f.message


# ---------------------------------------------------------------- the node object
def test_ready_edge_node_passes_every_node_check(pi, fixture_json):
    node = {NODE_CMD: as_output(fixture_json("node-edge-ready.json"))}
    results = {n: check(n, pi(), node)[0] for n in ("node_ready", "node_version", "node_labels", "node_taints")}
    assert {n: f.status for n, f in results.items()} == dict.fromkeys(results, "pass")
    assert results["node_ready"].message == "node line-3-pi Ready (kubelet v1.31.4+k3s1)"
    assert results["node_labels"].message == "node line-3-pi labels: facefleet.io/tier=edge"
    assert results["node_taints"].message == "node line-3-pi taints: facefleet.io/edge=true:NoSchedule"


def test_broken_cloud_node(make_ctx, fixture_json):
    ctx = make_ctx("cloud", "agent", node_name="cloud-worker-2")
    cmd = "k3s kubectl get node cloud-worker-2 -o json"
    node = {cmd: as_output(fixture_json("node-cloud-notready.json"))}
    ready, _ = check("node_ready", ctx, {}, node)
    assert ready.message == (
        "node_ready: found node cloud-worker-2 Ready=Unknown (NodeStatusUnknown: Kubelet stopped "
        "posting node status.), expected Ready=True; fix: read `kubectl describe node "
        "cloud-worker-2` and `journalctl -u k3s-agent` on the node."
    )
    version, _ = check("node_version", ctx, {}, node)
    assert version.message == (
        "node_version: found kubelet v1.29.11+k3s1, expected v1.31.x (apps/lib/values.yaml); fix: "
        "install k3s from its v1.31 channel (`INSTALL_K3S_CHANNEL=v1.31`)."
    )
    labels, _ = check("node_labels", ctx, {}, node)
    assert labels.message == (
        "node_labels: found facefleet.io/tier=edge on node cloud-worker-2, expected no other "
        "group's node label on a cloud node; fix: run `kubectl label node cloud-worker-2 "
        "facefleet.io/tier-` and remove it from /etc/rancher/k3s/config.yaml."
    )
    taints, _ = check("node_taints", ctx, {}, node)
    assert taints.message == (
        "node_taints: found taint facefleet.io/edge=true:NoSchedule on node cloud-worker-2, "
        "expected no other group's taint on a cloud node; fix: run `kubectl taint node "
        "cloud-worker-2 facefleet.io/edge=true:NoSchedule-` and remove it from "
        "/etc/rancher/k3s/config.yaml."
    )


def test_edge_node_without_label_and_taint(pi, fixture_json):
    node = copy.deepcopy(fixture_json("node-edge-ready.json"))
    del node["metadata"]["labels"]["facefleet.io/tier"]
    node["spec"]["taints"] = [
        {"effect": "NoSchedule", "key": "node.kubernetes.io/disk-pressure", "timeAdded": "2026-11-25T16:31:40Z"}
    ]
    out = {NODE_CMD: as_output(node)}
    labels, _ = check("node_labels", pi(), out)
    assert labels.message == (
        "node_labels: found no facefleet.io/tier label on node line-3-pi, expected "
        "facefleet.io/tier=edge for the edge group; fix: run `kubectl label node line-3-pi "
        'facefleet.io/tier=edge --overwrite` and add `node-label: ["facefleet.io/tier=edge"]` to '
        "/etc/rancher/k3s/config.yaml."
    )
    taints, _ = check("node_taints", pi(), out)
    assert taints.message == (
        "node_taints: found node.kubernetes.io/disk-pressure=:NoSchedule on node line-3-pi, "
        "expected taint facefleet.io/edge=true:NoSchedule for the edge group; fix: run `kubectl "
        "taint node line-3-pi facefleet.io/edge=true:NoSchedule` and add `node-taint: "
        '["facefleet.io/edge=true:NoSchedule"]` to /etc/rancher/k3s/config.yaml.'
    )


def test_node_names_come_from_apps_groups_yaml(make_ctx, fixture_json, tmp_path, monkeypatch):
    """One source of truth: rename the label in a copy of groups.yaml and the check follows it."""
    from tools.nodecheck import config

    groups = yaml.safe_load(config.GROUPS_FILE.read_text())
    groups["groups"]["edge"]["nodeLabel"]["key"] = "example.org/tier"
    alt = tmp_path / "groups.yaml"
    alt.write_text(yaml.safe_dump(groups))
    monkeypatch.setattr(config, "GROUPS_FILE", alt)
    assert load_groups()["edge"]["nodeLabel"] == {"key": "example.org/tier", "value": "edge"}
    f, _ = check(
        "node_labels", make_ctx(node_name="line-3-pi"), {NODE_CMD: as_output(fixture_json("node-edge-ready.json"))}
    )
    assert f.status == "fail" and "found no example.org/tier label" in f.message


@pytest.mark.parametrize(
    "case, says",
    [
        (
            "no_k3s",
            "found `k3s kubectl get node line-3-pi -o json` failing (/bin/sh: 1: k3s: not "
            "found), expected the node Ready; fix: run postflight after k3s is installed and the node "
            "has joined, and for an agent set kubectl_host in the inventory to a server.",
        ),
        ("not_found", 'failing (Error from server (NotFound): nodes "line-3-pi" not found)'),
        ("no_permission", "open /etc/rancher/k3s/k3s.yaml: permission denied)"),
    ],
)
def test_kubectl_failures_are_one_sentence(pi, fixture_json, case, says):
    f, _ = check("node_ready", pi(), {NODE_CMD: recorded(fixture_json, NODE_CMD, case)})
    assert f.status == "fail" and says in f.message and f.message.startswith("node_ready: found")


def test_agent_asks_the_cluster_host_and_names_itself_by_hostname(make_ctx, fixture_json):
    node = FakeHost({"cat /proc/sys/kernel/hostname": Output(0, "Line-3-Pi\n")})
    kube = FakeHost({NODE_CMD: as_output(fixture_json("node-edge-ready.json"))})
    f = RULES["node_ready"].check(Runners(node=node, cluster=kube), make_ctx("edge", "agent"))
    assert f.status == "pass" and kube.asked == [NODE_CMD]


# ---------------------------------------------------------------- Fleet agent
def test_fleet_agent(pi, fixture_json):
    f, _ = check("fleet_agent", pi(), {FLEET_CMD: as_output(fixture_json("pods-fleet-ready.json"))})
    assert f.status == "pass" and f.message == "fleet-agent-0 Ready in cattle-fleet-system"
    f, _ = check("fleet_agent", pi(), {FLEET_CMD: as_output(fixture_json("pods-empty.json"))})
    assert f.message == (
        "fleet_agent: found no pod labelled app=fleet-agent in cattle-fleet-system, expected a "
        "Ready fleet-agent pod; fix: import the cluster in Rancher (Cluster Management, Import "
        "Existing) and run its registration command, then read `kubectl -n cattle-fleet-system "
        "logs -l app=fleet-agent`."
    )
    pods = fixture_json("pods-fleet-ready.json")
    status = pods["items"][0]["status"]
    status["conditions"] = [c if c["type"] != "Ready" else {**c, "status": "False"} for c in status["conditions"]]
    status["containerStatuses"][0]["state"] = {"waiting": {"reason": "ImagePullBackOff"}}
    f, _ = check("fleet_agent", pi(), {FLEET_CMD: as_output(pods)})
    assert f.status == "fail" and "found fleet-agent-0 not Ready (ImagePullBackOff)" in f.message


# ---------------------------------------------------------------- facefleet pods
def test_facefleet_pods_ready_ignores_finished_jobs(pi, fixture_json):
    pods = fixture_json("pods-facefleet-ready.json")
    f, _ = check("facefleet_pods", pi(), {APP_CMD: as_output(pods)})
    assert f.status == "pass" and f.message == "3 pods Ready in facefleet"


def test_facefleet_pods_broken(pi, fixture_json):
    pods = fixture_json("pods-facefleet-broken.json")
    f, _ = check("facefleet_pods", pi(), {APP_CMD: as_output(pods)})
    assert f.message == (
        "facefleet_pods: found 3 of 3 pods not Ready: facefleet-ui-6d5f8b7c9d-x2k4p (ui running "
        "but not ready), facefleet-recognizer-7b9c6d8f5-q8w3z (CrashLoopBackOff), "
        "facefleet-database-0 (Pending: 0/1 nodes are available: 1 node(s) had untolerated taint "
        "{facefleet.io/edge: true}. preemption: 0/1 nodes are available: 1 Preemption is not "
        "helpful for scheduling.), expected every pod in facefleet Ready; fix: read `kubectl -n "
        "facefleet describe pod facefleet-ui-6d5f8b7c9d-x2k4p` and its logs."
    )
    f, _ = check("facefleet_pods", pi(), {APP_CMD: as_output(fixture_json("pods-empty.json"))})
    assert f.status == "fail" and "found no pods in namespace facefleet" in f.message


# ---------------------------------------------------------------- recognizer /readyz
def test_readyz_is_asked_from_the_ui_pod(pi, fixture_json):
    pods = fixture_json("pods-facefleet-ready.json")
    assert probe_pod(pods) == ("facefleet-ui-6d5f8b7c9d-x2k4p", "ui")
    f, kube = check(
        "recognizer_readyz",
        pi(),
        {
            APP_CMD: as_output(pods),
            "k3s kubectl exec -n facefleet facefleet-ui-6d5f8b7c9d-x2k4p -c ui -- python3 -c *": recorded(
                fixture_json, "readyz exec", "ok"
            ),
        },
    )
    assert f.status == "pass"
    assert f.message == (
        "http://facefleet-recognizer:8000/readyz answered 200 (asked from facefleet-ui-6d5f8b7c9d-x2k4p/ui)"
    )
    assert "RECOGNIZER_URL" in kube.asked[-1] and "/readyz" in kube.asked[-1]


@pytest.mark.parametrize(
    "case, found",
    [
        ("unavailable", "urllib.error.HTTPError: HTTP Error 503: Service Unavailable"),
        ("blocked", "TimeoutError: timed out"),
    ],
)
def test_readyz_failures(pi, fixture_json, case, found):
    f, _ = check(
        "recognizer_readyz",
        pi(),
        {
            APP_CMD: as_output(fixture_json("pods-facefleet-ready.json")),
            "k3s kubectl exec *": recorded(fixture_json, "readyz exec", case),
        },
    )
    assert f.message.startswith(
        f"recognizer_readyz: found {found} (asked from "
        "facefleet-ui-6d5f8b7c9d-x2k4p/ui), expected HTTP 200 from the recognizer's "
        "/readyz through its Service; fix: read the recognizer pods' logs"
    )


def test_readyz_without_a_ready_ui(pi, fixture_json):
    f, kube = check("recognizer_readyz", pi(), {APP_CMD: as_output(fixture_json("pods-facefleet-broken.json"))})
    assert kube.asked == [APP_CMD]
    assert f.message == (
        "recognizer_readyz: found no Ready pod with RECOGNIZER_URL (the ui) in "
        "facefleet to ask from, expected HTTP 200 from the recognizer's /readyz "
        "through its Service; fix: get the ui Ready first (see facefleet_pods)."
    )
