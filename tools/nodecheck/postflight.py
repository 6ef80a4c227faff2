"""Postflight rules: does a joined node run what it should? Pure over systemctl/stat/kubectl output.

Cluster facts come from ``kubectl ... -o json`` run on the node's kubectl host (a k3s server, or
the inventory's ``kubectl_host``); the rules only parse that JSON, so recorded outputs under
tests/nodes/fixtures/ exercise them without a cluster.
"""

from __future__ import annotations

import json
import shlex
from collections.abc import Mapping
from typing import Any

from .model import Context, Finding, Output, failed, passed
from .rules import Rule, Runners

KUBECTL_FIX = (
    "run postflight after k3s is installed and the node has joined, and for an agent "
    "set kubectl_host in the inventory to a server"
)


def kubectl(ctx: Context) -> str:
    return ctx.kubectl or ctx.settings["postflight"]["kubectl"]


def node_name(r: Runners, ctx: Context) -> str:
    """The Kubernetes node name: the inventory's, else the host's hostname (k3s's default)."""
    if ctx.node_name:
        return ctx.node_name
    return r.node("cat /proc/sys/kernel/hostname").stdout.strip().lower()


def _kubectl_failed(check: str, out: Output, command: str, wanted: str) -> Finding:
    return failed(check, f"`{command}` failing ({out.first_line()})", wanted, KUBECTL_FIX)


def _load(out: Output) -> Any:
    return json.loads(out.stdout)


# ---------------------------------------------------------------- k3s service and config
def gather_service(r: Runners, ctx: Context) -> dict[str, Output]:
    unit = ctx.settings["postflight"]["units"][ctx.role]
    return {"active": r.node(f"systemctl is-active {unit}"), "enabled": r.node(f"systemctl is-enabled {unit}")}


def _state(out: Output) -> str:
    return out.stdout.strip() or out.first_line()


def evaluate_service(o: Mapping[str, Output], ctx: Context) -> Finding:
    unit = ctx.settings["postflight"]["units"][ctx.role]
    active, enabled = _state(o["active"]), _state(o["enabled"])
    if active == "active" and enabled == "enabled":
        return passed("k3s_service", f"{unit} is active and enabled")
    install = (
        "`curl -sfL https://get.k3s.io | sh -`"
        if ctx.role == "server"
        else "`curl -sfL https://get.k3s.io | K3S_URL=https://<server>:6443 K3S_TOKEN=<token> sh -`"
    )
    if "not been booted with systemd" in o["active"].stderr:
        return failed(
            "k3s_service",
            f"no systemd on this host ({o['active'].first_line()}), so no {unit} service",
            f"{unit} active and enabled under systemd",
            f"run the check on the machine itself (not a container) and install k3s with {install}",
        )
    return failed(
        "k3s_service",
        f"{unit} {active} and {enabled}",
        f"{unit} active and enabled",
        f"install k3s with {install} or run `systemctl enable --now {unit}`, then read `journalctl -u {unit}`",
    )


def evaluate_config(o: Mapping[str, Output], ctx: Context) -> Finding:
    pf = ctx.settings["postflight"]
    path, owner, mode = pf["config_file"], pf["config_owner"], str(pf["config_mode"])
    out = o["stat"]
    if not out.ok:
        return failed(
            "k3s_config",
            f"no readable {path} ({out.first_line()})",
            f"{path} owned by {owner} with mode 0{mode}",
            f"write the k3s settings there before installing, then `chown {owner} {path} "
            f"&& chmod {mode} {path}` (it can hold the cluster token)",
        )
    have_owner, _, have_mode = out.stdout.strip().partition(" ")
    if have_owner != owner or have_mode != mode:
        return failed(
            "k3s_config",
            f"{path} owned by {have_owner} with mode 0{have_mode}",
            f"owner {owner} and mode 0{mode}",
            f"run `chown {owner} {path} && chmod {mode} {path}` (it can hold the cluster token)",
        )
    return passed("k3s_config", f"{path} owned by {owner}, mode 0{mode}")


def gather_config(r: Runners, ctx: Context) -> dict[str, Output]:
    path = shlex.quote(ctx.settings["postflight"]["config_file"])
    return {"stat": r.node(f"stat -c '%U:%G %a' {path}")}


# ---------------------------------------------------------------- the node object
def node_command(r: Runners, ctx: Context) -> str:
    return f"{kubectl(ctx)} get node {shlex.quote(node_name(r, ctx))} -o json"


def gather_node(r: Runners, ctx: Context) -> dict[str, Output]:
    command = node_command(r, ctx)
    return {"node": r.cluster(command), "command": Output(0, command)}


def _node_or_failure(check: str, o: Mapping[str, Output], wanted: str) -> dict | Finding:
    if not o["node"].ok:
        return _kubectl_failed(check, o["node"], o["command"].stdout, wanted)
    return _load(o["node"])


def evaluate_node_ready(o: Mapping[str, Output], ctx: Context) -> Finding:
    node = _node_or_failure("node_ready", o, "the node Ready")
    if isinstance(node, Finding):
        return node
    name = node["metadata"]["name"]
    ready = next((c for c in node.get("status", {}).get("conditions", []) if c.get("type") == "Ready"), None)
    version = node.get("status", {}).get("nodeInfo", {}).get("kubeletVersion", "?")
    if not ready or ready.get("status") != "True":
        state = (
            f"Ready={ready.get('status')} ({ready.get('reason', '')}: {ready.get('message', '')})"
            if ready
            else "no Ready condition"
        )
        return failed(
            "node_ready",
            f"node {name} {state}",
            "Ready=True",
            f"read `kubectl describe node {name}` and `journalctl -u "
            f"{ctx.settings['postflight']['units'][ctx.role]}` on the node",
        )
    return passed("node_ready", f"node {name} Ready (kubelet {version})")


def evaluate_node_version(o: Mapping[str, Output], ctx: Context) -> Finding:
    node = _node_or_failure("node_version", o, f"kubelet v{ctx.kube_version}.x")
    if isinstance(node, Finding):
        return node
    version = node.get("status", {}).get("nodeInfo", {}).get("kubeletVersion", "")
    if not version.startswith(f"v{ctx.kube_version}."):
        return failed(
            "node_version",
            f"kubelet {version or 'unknown'}",
            f"v{ctx.kube_version}.x (apps/lib/values.yaml)",
            f"install k3s from its v{ctx.kube_version} channel (`INSTALL_K3S_CHANNEL=v{ctx.kube_version}`)",
        )
    return passed("node_version", f"kubelet {version}")


def _other_groups(ctx: Context, field: str) -> list[Mapping[str, Any]]:
    return [
        spec[field]
        for g, spec in ctx.all_groups.items()
        if g != ctx.group and spec.get(field) and spec[field] != ctx.group_spec.get(field)
    ]


def evaluate_node_labels(o: Mapping[str, Output], ctx: Context) -> Finding:
    node = _node_or_failure("node_labels", o, "the group's node labels")
    if isinstance(node, Finding):
        return node
    name, labels = node["metadata"]["name"], node["metadata"].get("labels", {})
    want = ctx.group_spec.get("nodeLabel")
    if want and labels.get(want["key"]) != str(want["value"]):
        have = labels.get(want["key"])
        found = f"{want['key']}={have}" if have is not None else f"no {want['key']} label"
        return failed(
            "node_labels",
            f"{found} on node {name}",
            f"{want['key']}={want['value']} for the {ctx.group} group",
            f"run `kubectl label node {name} {want['key']}={want['value']} --overwrite` "
            f'and add `node-label: ["{want["key"]}={want["value"]}"]` to '
            "/etc/rancher/k3s/config.yaml",
        )
    stray = [lb for lb in _other_groups(ctx, "nodeLabel") if labels.get(lb["key"]) == str(lb["value"])]
    if stray:
        lb = stray[0]
        return failed(
            "node_labels",
            f"{lb['key']}={lb['value']} on node {name}",
            f"no other group's node label on a {ctx.group} node",
            f"run `kubectl label node {name} {lb['key']}-` and remove it from /etc/rancher/k3s/config.yaml",
        )
    shown = f"{want['key']}={want['value']}" if want else "none required"
    return passed("node_labels", f"node {name} labels: {shown}")


def _has_taint(taints: list[Mapping[str, Any]], want: Mapping[str, Any]) -> bool:
    return any(
        t.get("key") == want["key"] and t.get("value", "") == str(want["value"]) and t.get("effect") == want["effect"]
        for t in taints
    )


def _taint_text(t: Mapping[str, Any]) -> str:
    return f"{t['key']}={t['value']}:{t['effect']}"


def evaluate_node_taints(o: Mapping[str, Output], ctx: Context) -> Finding:
    node = _node_or_failure("node_taints", o, "the group's node taints")
    if isinstance(node, Finding):
        return node
    name, taints = node["metadata"]["name"], node.get("spec", {}).get("taints", []) or []
    want = ctx.group_spec.get("nodeTaint")
    if want and not _has_taint(taints, want):
        have = ", ".join(_taint_text({"value": "", **t}) for t in taints) or "no taints"
        return failed(
            "node_taints",
            f"{have} on node {name}",
            f"taint {_taint_text(want)} for the {ctx.group} group",
            f"run `kubectl taint node {name} {_taint_text(want)}` and add `node-taint: "
            f'["{_taint_text(want)}"]` to /etc/rancher/k3s/config.yaml',
        )
    stray = [t for t in _other_groups(ctx, "nodeTaint") if _has_taint(taints, t)]
    if stray:
        t = _taint_text(stray[0])
        return failed(
            "node_taints",
            f"taint {t} on node {name}",
            f"no other group's taint on a {ctx.group} node",
            f"run `kubectl taint node {name} {t}-` and remove it from /etc/rancher/k3s/config.yaml",
        )
    return passed("node_taints", f"node {name} taints: {_taint_text(want) if want else 'none required'}")


# ---------------------------------------------------------------- pods
def pods_command(ctx: Context, namespace: str) -> str:
    return f"{kubectl(ctx)} get pods -n {shlex.quote(namespace)} -o json"


def pod_ready(pod: Mapping[str, Any]) -> bool:
    return any(
        c.get("type") == "Ready" and c.get("status") == "True" for c in pod.get("status", {}).get("conditions", [])
    )


def pod_problem(pod: Mapping[str, Any]) -> str:
    """Why a pod is not Ready, in a few words: the waiting reason or the scheduling message."""
    status = pod.get("status", {})
    for cs in status.get("containerStatuses", []) or []:
        waiting = cs.get("state", {}).get("waiting")
        if waiting:
            return waiting.get("reason", "waiting")
        if not cs.get("ready") and "running" in cs.get("state", {}):
            return f"{cs['name']} running but not ready"
    for cond in status.get("conditions", []):
        if cond.get("type") == "PodScheduled" and cond.get("status") != "True":
            return f"{status.get('phase', 'Pending')}: {cond.get('message', cond.get('reason'))}"
    return status.get("phase", "unknown")


def gather_fleet(r: Runners, ctx: Context) -> dict[str, Output]:
    command = pods_command(ctx, ctx.settings["postflight"]["fleet_namespace"])
    return {"pods": r.cluster(command), "command": Output(0, command)}


def evaluate_fleet(o: Mapping[str, Output], ctx: Context) -> Finding:
    pf = ctx.settings["postflight"]
    ns, label = pf["fleet_namespace"], pf["fleet_agent_label"]
    selector = f"{label['key']}={label['value']}"
    if not o["pods"].ok:
        return _kubectl_failed("fleet_agent", o["pods"], o["command"].stdout, f"a Ready fleet-agent pod in {ns}")
    pods = [
        p
        for p in _load(o["pods"]).get("items", [])
        if p["metadata"].get("labels", {}).get(label["key"]) == label["value"]
    ]
    fix = (
        "import the cluster in Rancher (Cluster Management, Import Existing) and run its "
        f"registration command, then read `kubectl -n {ns} logs -l {selector}`"
    )
    if not pods:
        return failed("fleet_agent", f"no pod labelled {selector} in {ns}", "a Ready fleet-agent pod", fix)
    ready = [p["metadata"]["name"] for p in pods if pod_ready(p)]
    if not ready:
        p = pods[0]
        return failed(
            "fleet_agent", f"{p['metadata']['name']} not Ready ({pod_problem(p)})", "a Ready fleet-agent pod", fix
        )
    return passed("fleet_agent", f"{ready[0]} Ready in {ns}")


def gather_app_pods(r: Runners, ctx: Context) -> dict[str, Output]:
    command = pods_command(ctx, ctx.settings["postflight"]["app_namespace"])
    return {"pods": r.cluster(command), "command": Output(0, command)}


def evaluate_app_pods(o: Mapping[str, Output], ctx: Context) -> Finding:
    ns = ctx.settings["postflight"]["app_namespace"]
    if not o["pods"].ok:
        return _kubectl_failed("facefleet_pods", o["pods"], o["command"].stdout, f"every pod in {ns} Ready")
    pods = [
        p for p in _load(o["pods"]).get("items", []) if p.get("status", {}).get("phase") != "Succeeded"
    ]  # finished backup jobs
    if not pods:
        return failed(
            "facefleet_pods",
            f"no pods in namespace {ns}",
            "the facefleet workloads running",
            "check in Rancher (Continuous Delivery) that the GitRepo's "
            "bundles target this cluster's group and are not in error",
        )
    bad = [p for p in pods if not pod_ready(p)]
    if bad:
        listing = ", ".join(f"{p['metadata']['name']} ({pod_problem(p)})" for p in bad)
        return failed(
            "facefleet_pods",
            f"{len(bad)} of {len(pods)} pods not Ready: {listing}",
            f"every pod in {ns} Ready",
            f"read `kubectl -n {ns} describe pod {bad[0]['metadata']['name']}` and its logs",
        )
    return passed("facefleet_pods", f"{len(pods)} pods Ready in {ns}")


# ---------------------------------------------------------------- recognizer /readyz via its Service
def probe_pod(pods: Mapping[str, Any]) -> tuple[str, str] | None:
    """A Ready pod and container that has RECOGNIZER_URL (the ui): it reaches the recognizer the
    way a login does, through the Service and the NetworkPolicies."""
    for pod in pods.get("items", []):
        if not pod_ready(pod):
            continue
        for container in pod.get("spec", {}).get("containers", []):
            if any(e.get("name") == "RECOGNIZER_URL" for e in container.get("env", []) or []):
                return pod["metadata"]["name"], container["name"]
    return None


READYZ_SCRIPT = (
    "import os, urllib.request as u; url = os.environ['RECOGNIZER_URL'].rstrip('/') + '{path}'; "
    "r = u.urlopen(url, timeout=5); print(r.status, url)"
)


def gather_readyz(r: Runners, ctx: Context) -> dict[str, Output]:
    pf = ctx.settings["postflight"]
    ns = pf["app_namespace"]
    pods_cmd = pods_command(ctx, ns)
    found: dict[str, Output] = {"pods": r.cluster(pods_cmd), "command": Output(0, pods_cmd)}
    if not found["pods"].ok:
        return found
    target = probe_pod(_load(found["pods"]))
    if target:
        script = READYZ_SCRIPT.format(path=pf["readyz_path"])
        command = (
            f"{kubectl(ctx)} exec -n {shlex.quote(ns)} {shlex.quote(target[0])} "
            f"-c {shlex.quote(target[1])} -- python3 -c {shlex.quote(script)}"
        )
        found["exec"] = r.cluster(command)
        found["via"] = Output(0, f"{target[0]}/{target[1]}")
    return found


def evaluate_readyz(o: Mapping[str, Output], ctx: Context) -> Finding:
    pf = ctx.settings["postflight"]
    ns, path = pf["app_namespace"], pf["readyz_path"]
    wanted = f"HTTP 200 from the recognizer's {path} through its Service"
    if not o["pods"].ok:
        return _kubectl_failed("recognizer_readyz", o["pods"], o["command"].stdout, wanted)
    if "exec" not in o:
        return failed(
            "recognizer_readyz",
            f"no Ready pod with RECOGNIZER_URL (the ui) in {ns} to ask from",
            wanted,
            "get the ui Ready first (see facefleet_pods)",
        )
    out, via = o["exec"], o["via"].stdout
    if out.ok and out.stdout.split()[:1] == ["200"]:
        return passed("recognizer_readyz", f"{out.stdout.split()[1]} answered 200 (asked from {via})")
    lines = [
        ln.strip()
        for ln in out.stderr.splitlines()
        if ln.strip() and not ln.startswith("command terminated with exit code")
    ]
    last = lines[-1] if lines else out.first_line()
    return failed(
        "recognizer_readyz",
        f"{last} (asked from {via})",
        wanted,
        f"read the recognizer pods' logs in {ns} (503 means the model is not loaded "
        "or the database does not answer) and check the recognizer Service's endpoints",
    )


def postflight_rules(settings: Mapping[str, Any]) -> list[Rule]:
    """The postflight rules in report order."""
    return [
        Rule("k3s_service", gather_service, evaluate_service),
        Rule("k3s_config", gather_config, evaluate_config),
        Rule("node_ready", gather_node, evaluate_node_ready),
        Rule("node_version", gather_node, evaluate_node_version),
        Rule("node_labels", gather_node, evaluate_node_labels),
        Rule("node_taints", gather_node, evaluate_node_taints),
        Rule("fleet_agent", gather_fleet, evaluate_fleet),
        Rule("facefleet_pods", gather_app_pods, evaluate_app_pods),
        Rule("recognizer_readyz", gather_readyz, evaluate_readyz),
    ]
