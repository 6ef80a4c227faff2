"""NetworkPolicies allow exactly DESIGN.md's flows: ingress -> ui, ui -> recognizer -> database,
browsers <-> turn <-> ui, and DNS (plus the database's own backup job reading the database); for
fleet-wide users, on the home the ingress controller -> recognizer (its sync routes), on a replica
recognizer -> the home's address on 443 (by default any public address, nothing private).

Every flow between the rendered pods and a few outside actors is evaluated with the
NetworkPolicy semantics (a pod selected by a policy of a type is isolated in that direction; a flow
passes when an egress rule of the source and an ingress rule of the destination both allow it)."""

from __future__ import annotations

import ipaddress
import subprocess
from dataclasses import dataclass, field

import pytest
import yaml
from gitops_k8s import TARGETS, objects, pod_labels, workloads

from tools.gitops.layout import tool

NS = "facefleet"


@dataclass(frozen=True)
class Actor:
    name: str
    namespace: str | None  # None: outside the cluster
    ns_labels: dict = field(default_factory=dict, hash=False)
    labels: dict = field(default_factory=dict, hash=False)
    ip: str = ""


def _actors(objs: list[dict]) -> list[Actor]:
    pods = [
        Actor(
            pod_labels(o)["app.kubernetes.io/name"],
            NS,
            {"kubernetes.io/metadata.name": NS},
            pod_labels(o),
            f"10.42.0.{i + 10}",
        )
        for i, (o, _) in enumerate(workloads(objs))
    ]
    return pods + [
        Actor(
            "ingress-controller",
            "kube-system",
            {"kubernetes.io/metadata.name": "kube-system"},
            {"app.kubernetes.io/name": "traefik"},
            "10.42.1.2",
        ),
        Actor(
            "kube-dns",
            "kube-system",
            {"kubernetes.io/metadata.name": "kube-system"},
            {"k8s-app": "kube-dns"},
            "10.42.1.3",
        ),
        Actor("other-pod", "default", {"kubernetes.io/metadata.name": "default"}, {"app": "other"}, "10.42.2.4"),
        Actor("browser", None, ip="203.0.113.7"),
        # Outside the cluster: the home's load balancer (a public address), a machine on the plant's
        # LAN, the cloud's metadata service, a node, a carrier-grade-NAT neighbour.
        Actor("home-ingress", None, ip="198.51.100.20"),
        Actor("plant-lan", None, ip="192.168.10.5"),
        Actor("metadata", None, ip="169.254.169.254"),
        Actor("node", None, ip="172.16.0.5"),
        Actor("cgnat", None, ip="100.64.3.4"),
    ]


def _selects(selector: dict | None, labels: dict) -> bool:
    if selector is None:
        return True
    if any(labels.get(k) != v for k, v in (selector.get("matchLabels") or {}).items()):
        return False
    assert not selector.get("matchExpressions"), "matchExpressions not modelled"
    return True


def _peer_matches(peer: dict, actor: Actor) -> bool:
    if "ipBlock" in peer:
        if not actor.ip:
            return False
        ip = ipaddress.ip_address(actor.ip)
        net = ipaddress.ip_network(peer["ipBlock"]["cidr"])
        excepted = any(ip in ipaddress.ip_network(e) for e in peer["ipBlock"].get("except", []))
        return ip.version == net.version and ip in net and not excepted
    if actor.namespace is None:
        return False
    if "namespaceSelector" in peer:
        if not _selects(peer["namespaceSelector"], actor.ns_labels):
            return False
    elif actor.namespace != NS:
        return False
    return _selects(peer.get("podSelector"), actor.labels)


def _port_matches(rule_ports: list[dict] | None, proto: str, port: int) -> bool:
    if not rule_ports:
        return True
    for p in rule_ports:
        if p.get("protocol", "TCP") != proto:
            continue
        if "port" not in p:
            return True
        if p.get("endPort"):
            if p["port"] <= port <= p["endPort"]:
                return True
        elif p["port"] == port:
            return True
    return False


def _allowed(policies: list[dict], actor: Actor, peer: Actor, proto: str, port: int, direction: str) -> bool:
    """Does `actor` (a pod in NS) allow traffic to/from `peer` in direction Ingress or Egress?"""
    key = "ingress" if direction == "Ingress" else "egress"
    peer_key = "from" if direction == "Ingress" else "to"
    selecting = [
        p
        for p in policies
        if _selects(p["spec"]["podSelector"], actor.labels) and direction in p["spec"].get("policyTypes", ["Ingress"])
    ]
    if not selecting:
        return True
    for policy in selecting:
        for rule in policy["spec"].get(key) or []:
            peers = rule.get(peer_key)
            if (not peers or any(_peer_matches(x, peer) for x in peers)) and _port_matches(
                rule.get("ports"), proto, port
            ):
                return True
    return False


def flows(objs: list[dict]) -> set[tuple[str, str, str, int]]:
    policies = [o for o in objs if o["kind"] == "NetworkPolicy"]
    turn = next(s for o, s in workloads(objs) if o["metadata"]["name"] == "facefleet-turn")["containers"][0]["args"]
    relay_min = int(next(a for a in turn if a.startswith("--min-port=")).split("=")[1])
    relay_max = int(next(a for a in turn if a.startswith("--max-port=")).split("=")[1])
    probes = [
        ("TCP", 8501),
        ("TCP", 8000),
        ("TCP", 27017),
        ("UDP", 3478),
        ("TCP", 3478),
        ("UDP", relay_min),
        ("UDP", relay_max),
        ("UDP", relay_max + 1),
        ("UDP", 40000),
        ("UDP", 53),
        ("TCP", 53),
        ("TCP", 443),
        ("TCP", 8088),
    ]
    actors = _actors(objs)
    result = set()
    for src in actors:
        for dst in actors:
            if src is dst and src.namespace == NS:
                pass  # a pod talking to its own replicas still crosses the policy
            if src.namespace != NS and dst.namespace != NS:
                continue
            for proto, port in probes:
                ok = True
                if src.namespace == NS:
                    ok = _allowed(policies, src, dst, proto, port, "Egress")
                if ok and dst.namespace == NS:
                    ok = _allowed(policies, dst, src, proto, port, "Ingress")
                if ok:
                    result.add((src.name, dst.name, proto, port))
    return result


PUBLIC = ("browser", "home-ingress")  # the outside actors at public addresses


def expected_flows(objs: list[dict], role: str) -> set[tuple[str, str, str, int]]:
    names = {pod_labels(o)["app.kubernetes.io/name"] for o, _ in workloads(objs)}
    turn = next(s for o, s in workloads(objs) if o["metadata"]["name"] == "facefleet-turn")["containers"][0]["args"]
    relay = [int(next(a for a in turn if a.startswith(f"--{k}-port=")).split("=")[1]) for k in ("min", "max")]
    want = {
        ("ingress-controller", "facefleet-ui", "TCP", 8501),
        ("facefleet-ui", "facefleet-recognizer", "TCP", 8000),
        ("facefleet-recognizer", "facefleet-database", "TCP", 27017),
    }
    # TURN relays to the ui's ephemeral UDP ports (any unprivileged one).
    want |= {("facefleet-turn", "facefleet-ui", "UDP", p) for p in (3478, relay[0], relay[1], relay[1] + 1, 40000)}
    # TURN is public by design: a browser may sit at any address (behind ServiceLB even a cluster
    # address), so every source outside the namespace reaches the TURN ports; inside it only the ui.
    outside = [a.name for a in _actors(objs) if a.namespace != NS]
    for src in (*outside, "facefleet-ui"):
        want |= {(src, "facefleet-turn", "UDP", 3478), (src, "facefleet-turn", "TCP", 3478)}
        want |= {(src, "facefleet-turn", "UDP", p) for p in relay}
    want |= {("facefleet-turn", "facefleet-turn", "UDP", p) for p in relay}
    want |= {(n, "kube-dns", proto, 53) for n in names for proto in ("UDP", "TCP")}
    if role == "home":  # replicas reach the sync routes through the ingress (the ui's Ingress, /v1/sync/)
        want.add(("ingress-controller", "facefleet-recognizer", "TCP", 8000))
    else:  # a replica pulls from the home's URL: HTTPS to a public address, nothing private
        want |= {("facefleet-recognizer", dst, "TCP", 443) for dst in PUBLIC}
    if "facefleet-database-backup" in names and any(
        "mongodump" in str(s) for o, s in workloads(objs) if o["kind"] == "CronJob"
    ):
        want.add(("facefleet-database-backup", "facefleet-database", "TCP", 27017))
    return want


@pytest.mark.parametrize("target", TARGETS)
def test_network_policies_allow_exactly_the_design_flows(rendering, target):
    objs = objects(rendering, target)
    got, want = flows(objs), expected_flows(objs, "home" if target == "home" else "replica")
    assert got - want == set(), f"flows allowed beyond DESIGN.md: {sorted(got - want)}"
    assert want - got == set(), f"DESIGN.md flows blocked: {sorted(want - got)}"


def _recognizer_policy(charts, *args: str) -> dict:
    proc = subprocess.run(
        [tool("helm"), "template", "x", str(charts / "apps/recognizer"), "-f", "values/edge.yaml", *args],
        cwd=charts / "apps/recognizer",
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    return next(d for d in yaml.safe_load_all(proc.stdout) if d and d["kind"] == "NetworkPolicy")


def test_a_replica_narrowed_to_the_homes_address_reaches_only_it(rendering, charts):
    """clusters/README.md: set sync.homeIpBlocks to the home's load balancer; then the recognizer's
    only way out besides DNS and its database is that one address on 443."""
    narrowed = _recognizer_policy(charts, "--set-json", 'sync.homeIpBlocks=[{"cidr": "198.51.100.20/32"}]')
    objs = [
        narrowed if o["kind"] == "NetworkPolicy" and o["metadata"]["name"] == "facefleet-recognizer" else o
        for o in objects(rendering, "edge")
    ]
    out = {(dst, proto, port) for src, dst, proto, port in flows(objs) if src == "facefleet-recognizer"}
    assert out == {
        ("home-ingress", "TCP", 443),
        ("facefleet-database", "TCP", 27017),
        ("kube-dns", "UDP", 53),
        ("kube-dns", "TCP", 53),
    }


def test_a_replica_without_the_homes_address_is_refused(charts):
    """An egress rule with no peers would allow every destination: the schema and the template refuse it."""
    for extra in ([], ["--skip-schema-validation"]):
        proc = subprocess.run(
            [
                tool("helm"),
                "template",
                "x",
                str(charts / "apps/recognizer"),
                "--set-json",
                "sync.homeIpBlocks=[]",
                *extra,
            ],
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert proc.returncode != 0, extra
        assert "homeIpBlocks" in proc.stderr, proc.stderr


def test_default_deny_covers_every_pod_both_ways(rendering):
    base = rendering.objects["edge"]["base"]
    deny = next(o for o in base if o["metadata"]["name"] == "facefleet-default-deny")
    assert deny["spec"] == {"podSelector": {}, "policyTypes": ["Ingress", "Egress"]}


def test_evaluator_blocks_what_no_policy_allows(rendering):
    got = flows(objects(rendering, "home"))
    assert ("browser", "facefleet-recognizer", "TCP", 8000) not in got
    assert ("facefleet-ui", "facefleet-database", "TCP", 27017) not in got
    assert ("other-pod", "facefleet-ui", "TCP", 8501) not in got
    assert ("facefleet-recognizer", "browser", "TCP", 443) not in got  # the home dials nobody
    assert ("other-pod", "facefleet-recognizer", "TCP", 8000) not in got
    replica = flows(objects(rendering, "cloud"))
    assert ("ingress-controller", "facefleet-recognizer", "TCP", 8000) not in replica
    assert ("facefleet-recognizer", "home-ingress", "TCP", 8088) not in replica
    for private in ("other-pod", "plant-lan", "metadata", "node", "cgnat", "ingress-controller"):
        assert ("facefleet-recognizer", private, "TCP", 443) not in replica, private
