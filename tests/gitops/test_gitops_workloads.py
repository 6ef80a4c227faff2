"""Every workload as rendered for edge, cloud and the home: restricted security, limits, probes, pinned images,
Secrets only referenced, autoscaled Deployments without spec.replicas, the contracted env names."""

from __future__ import annotations

import json
import re
import subprocess

import pytest
import yaml
from gitops_k8s import (
    GROUP_OF,
    REPLICAS,
    TARGETS,
    containers,
    cpu_millis,
    memory_bytes,
    merge,
    objects,
    pod_labels,
    replicas,
    workloads,
)
from gitops_paths import ROOT

from tools.gitops.layout import tool

# DESIGN.md's Secrets and their keys: charts may reference these and nothing else.
SECRETS = {
    "facefleet-database": {"username", "password"},
    "facefleet-recognizer": {"api-key", "token-secret", "embedding-key"},
    "facefleet-turn": {"auth-secret"},  # v2: coturn's shared secret for short-lived credentials
}
# v2, fleet-wide users: every replica of the home (and only a replica) reads the home's URL and its
# site credential from this Secret (keys as recognizer/README.md says).
SYNC_SECRET = {"facefleet-sync": {"home-url", "credential"}}


@pytest.mark.parametrize("target", TARGETS)
def test_pods_meet_the_restricted_pod_security_standard(rendering, target):
    for obj, spec in workloads(objects(rendering, target)):
        pod = spec["securityContext"]
        assert pod["runAsNonRoot"] is True and pod["seccompProfile"]["type"] == "RuntimeDefault", obj["metadata"][
            "name"
        ]
        assert pod.get("runAsUser", 1) != 0
        assert not spec.get("hostNetwork") and not spec.get("hostPID") and not spec.get("hostIPC")
        for volume in spec.get("volumes", []):
            assert "hostPath" not in volume
        for c in containers(spec):
            sc = c["securityContext"]
            assert sc["allowPrivilegeEscalation"] is False, c["name"]
            assert sc["capabilities"]["drop"] == ["ALL"] and not sc["capabilities"].get("add")
            assert sc["runAsNonRoot"] is True and sc["readOnlyRootFilesystem"] is True
            assert not sc.get("privileged")
            assert not any("hostPort" in p for p in c.get("ports", []))


@pytest.mark.parametrize("target", TARGETS)
def test_every_container_has_requests_and_limits(rendering, target):
    for obj, spec in workloads(objects(rendering, target)):
        for c in containers(spec):
            res = c["resources"]
            for kind in ("requests", "limits"):
                assert {"cpu", "memory"} <= set(res[kind]), f"{obj['metadata']['name']}/{c['name']} {kind}"
            assert memory_bytes(res["requests"]["memory"]) <= memory_bytes(res["limits"]["memory"])
            assert cpu_millis(res["requests"]["cpu"]) <= cpu_millis(res["limits"]["cpu"])


@pytest.mark.parametrize("target", TARGETS)
def test_long_running_containers_have_startup_liveness_and_readiness_probes(rendering, target):
    found = 0
    for obj, spec in workloads(objects(rendering, target)):
        if obj["kind"] in ("CronJob", "Job"):
            continue  # a backup run ends by itself; nothing to probe
        for c in spec["containers"]:
            found += 1
            for probe in ("startupProbe", "livenessProbe", "readinessProbe"):
                assert probe in c, f"{obj['metadata']['name']}/{c['name']} lacks {probe}"
    assert found == 4


def test_recognizer_and_ui_probe_their_contracted_endpoints(rendering):
    for target in TARGETS:
        by_name = {o["metadata"]["name"]: s for o, s in workloads(objects(rendering, target))}
        rec = by_name["facefleet-recognizer"]["containers"][0]
        assert rec["livenessProbe"]["httpGet"]["path"] == "/healthz"
        assert rec["startupProbe"]["httpGet"]["path"] == "/healthz"
        assert rec["readinessProbe"]["httpGet"]["path"] == "/readyz"
        assert rec["ports"][0]["containerPort"] == 8000
        assert rec["command"] == ["python", "-m", "recognizer", "serve", "--host", "0.0.0.0", "--port", "8000"]
        ui = by_name["facefleet-ui"]["containers"][0]
        assert ui["readinessProbe"]["httpGet"]["path"] == "/_stcore/health"
        assert ui["ports"][0]["containerPort"] == 8501


@pytest.mark.parametrize("target", TARGETS)
def test_images_are_pinned(rendering, target):
    for _obj, spec in workloads(objects(rendering, target)):
        for c in containers(spec):
            repo, _, tag = c["image"].rpartition(":")
            assert repo and "/" not in tag and re.fullmatch(r"[0-9][0-9A-Za-z_.-]*", tag), c["image"]


@pytest.mark.parametrize("target", TARGETS)
def test_no_secret_is_rendered_and_only_design_secrets_are_referenced(rendering, target):
    objs = objects(rendering, target)
    for obj in objs:
        if obj["kind"] == "Secret":
            assert not obj.get("data") and not obj.get("stringData"), obj["metadata"]["name"]
    refs: dict[str, set[str]] = {}
    for _, spec in workloads(objs):
        for c in containers(spec):
            for env in c.get("env", []):
                ref = (env.get("valueFrom") or {}).get("secretKeyRef")
                if ref:
                    refs.setdefault(ref["name"], set()).add(ref["key"])
            assert "envFrom" not in c
        for volume in spec.get("volumes", []):
            assert "secret" not in volume
    assert refs == (SECRETS if target == "home" else SECRETS | SYNC_SECRET)
    ingress = [o for o in objs if o["kind"] == "Ingress"]
    assert [t["secretName"] for i in ingress for t in i["spec"]["tls"]] == ["facefleet-tls"]


@pytest.mark.parametrize("target", TARGETS)
def test_autoscaled_deployments_leave_replicas_to_the_hpa(rendering, target):
    objs = objects(rendering, target)
    hpas = {o["spec"]["scaleTargetRef"]["name"] for o in objs if o["kind"] == "HorizontalPodAutoscaler"}
    for obj in objs:
        if obj["kind"] == "Deployment" and obj["metadata"]["name"] in hpas:
            assert "replicas" not in obj["spec"], obj["metadata"]["name"]
    if GROUP_OF[target] == "cloud":
        assert hpas == {"facefleet-recognizer", "facefleet-ui"}
        pdbs = {o["metadata"]["name"] for o in objs if o["kind"] == "PodDisruptionBudget"}
        assert pdbs == {"facefleet-recognizer", "facefleet-ui", "facefleet-turn", "facefleet-database"}
        for obj, spec in workloads(objs):
            if obj["metadata"]["name"] in hpas:
                assert spec["topologySpreadConstraints"][0]["topologyKey"] == "kubernetes.io/hostname"
    else:
        assert not hpas
        for obj, _ in workloads(objs):
            assert replicas(obj, objs) == 1, obj["metadata"]["name"]


def _env(spec: dict) -> dict[str, dict]:
    return {e["name"]: e for e in spec["containers"][0]["env"]}


@pytest.mark.parametrize("target", TARGETS)
def test_contracted_environment(rendering, target):
    by_name = {o["metadata"]["name"]: s for o, s in workloads(objects(rendering, target))}
    rec = _env(by_name["facefleet-recognizer"])
    assert {
        "MONGO_URL",
        "FACEFLEET_API_KEY",
        "FACEFLEET_TOKEN_SECRET",
        "FACEFLEET_TOKEN_TTL_S",
        "FACEFLEET_EMBEDDING_KEY",
    } <= set(rec)
    # No credentials in the URL: they reach the driver apart, so any password works. The cloud's
    # URL lists every replica-set member (test_cloud_database_is_a_replica_set_one_member_per_node).
    member = r"facefleet-database(-\d\.facefleet-database)?:27017"
    assert re.fullmatch(
        rf"mongodb://{member}(,{member})*/facefleet\?authSource=\w+(&replicaSet=\w+&w=majority)?",
        rec["MONGO_URL"]["value"],
    )
    for var, key in (("FACEFLEET_DB_USERNAME", "username"), ("FACEFLEET_DB_PASSWORD", "password")):
        assert rec[var]["valueFrom"]["secretKeyRef"] == {"name": "facefleet-database", "key": key}
    ui = _env(by_name["facefleet-ui"])
    # The recognizer believes X-Forwarded-For from the pod network (only ui pods reach it), the ui
    # from the ingress controller's pods; the ui then names each browser (tests/ui/test_ui_forwarded.py).
    assert rec["FACEFLEET_TRUSTED_PROXIES"]["value"] == ui["FACEFLEET_TRUSTED_PROXIES"]["value"] == "10.42.0.0/16"
    assert ui["RECOGNIZER_URL"]["value"] == "http://facefleet-recognizer:8000"
    assert ui["FACEFLEET_API_KEY"]["valueFrom"]["secretKeyRef"] == {"name": "facefleet-recognizer", "key": "api-key"}
    # TURN: the ui holds coturn's shared secret and mints credentials; no fixed credential anywhere.
    assert ui["FACEFLEET_TURN_SECRET"]["valueFrom"]["secretKeyRef"] == {"name": "facefleet-turn", "key": "auth-secret"}
    urls = ui["FACEFLEET_TURN_URLS"]["value"].split(",")
    assert {u.split("?")[0].rsplit(":", 1)[1] for u in urls} == {"3478"} and all(u.startswith("turn:") for u in urls)
    assert json.loads(ui["FACEFLEET_ICE_SERVERS"]["value"]) == []


SYNC_ENV = (
    "FACEFLEET_HOME_URL",
    "FACEFLEET_SYNC_CREDENTIAL",
    "FACEFLEET_REPLICA_MAX_STALENESS_S",
    "FACEFLEET_SYNC_INTERVAL_S",
)


@pytest.mark.parametrize("target", TARGETS)
def test_the_home_and_its_replicas(rendering, target):
    """recognizer/README.md, "Fleet-wide users": a recognizer is a replica exactly when
    FACEFLEET_HOME_URL is set. Every cluster but the home is one: edge clusters and a cloud cluster
    without the home label; each takes the home's URL and its credential from facefleet-sync. The
    home has neither (nor any reference to that Secret), and every site is named after its cluster."""
    rec = _env(
        next(s for o, s in workloads(objects(rendering, target)) if o["metadata"]["name"] == "facefleet-recognizer")
    )
    assert rec["FACEFLEET_SITE"]["value"] == target  # Fleet's cluster name (the render's Cluster is the target)
    if target == "home":
        assert not set(SYNC_ENV) & set(rec), f"the home has {sorted(set(SYNC_ENV) & set(rec))}"
        assert "FACEFLEET_HOME_CA_FILE" not in rec
        return
    assert target in REPLICAS
    for var, key in (("FACEFLEET_HOME_URL", "home-url"), ("FACEFLEET_SYNC_CREDENTIAL", "credential")):
        assert rec[var] == {"name": var, "valueFrom": {"secretKeyRef": {"name": "facefleet-sync", "key": key}}}
    assert rec["FACEFLEET_REPLICA_MAX_STALENESS_S"]["value"] == "86400"
    assert rec["FACEFLEET_SYNC_INTERVAL_S"]["value"] == "2"
    assert "FACEFLEET_HOME_CA_FILE" not in rec  # the system CAs unless sync.homeCa names a ConfigMap


def _helm_recognizer(charts, *args: str) -> dict:
    proc = subprocess.run(
        [tool("helm"), "template", "x", str(charts / "apps/recognizer"), *args],
        cwd=charts / "apps/recognizer",
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    return next(d for d in yaml.safe_load_all(proc.stdout) if d and d["kind"] == "Deployment")


def test_a_private_ca_for_the_home_is_mounted_on_replicas_only(charts):
    """sync.homeCa.configMap: the CA bundle a replica verifies the home's certificate with, mounted
    read-only and named by FACEFLEET_HOME_CA_FILE; the home dials nobody, so it gets neither."""
    ca = ["--set", "sync.homeCa.configMap=facefleet-home-ca"]
    spec = _helm_recognizer(charts, "-f", "values/edge.yaml", *ca)["spec"]["template"]["spec"]
    env = _env(spec)
    assert env["FACEFLEET_HOME_CA_FILE"]["value"] == "/etc/facefleet/home-ca/ca.crt"
    mount = next(m for m in spec["containers"][0]["volumeMounts"] if m["name"] == "home-ca")
    assert mount == {"name": "home-ca", "mountPath": "/etc/facefleet/home-ca", "readOnly": True}
    volume = next(v for v in spec["volumes"] if v["name"] == "home-ca")
    assert volume["configMap"] == {"name": "facefleet-home-ca", "items": [{"key": "ca.crt", "path": "ca.crt"}]}
    home = _helm_recognizer(charts, "-f", "values/cloud.yaml", "-f", "values/home.yaml", *ca)["spec"]["template"][
        "spec"
    ]
    assert "FACEFLEET_HOME_CA_FILE" not in _env(home) and all(v["name"] != "home-ca" for v in home["volumes"])


def test_a_site_name_that_is_no_dns_label_is_refused(charts):
    """FACEFLEET_SITE names the site in its credential (ffs1.<site>.…): the chart refuses a cluster
    name that is no DNS label before a pod could start with it."""
    proc = subprocess.run(
        [tool("helm"), "template", "x", str(charts / "apps/recognizer"), "--set", "site=Line_3.plant"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode != 0 and "/site" in proc.stderr, proc.stderr


def test_recognizer_and_ui_agree_on_the_sync_route(overlays):
    """The ui's Ingress routes the home's sync paths to the recognizer's Service and port, and the
    recognizer's NetworkPolicy admits the same ingress controller as the ui's (per target)."""
    for group in overlays["recognizer"]:
        rec, ui = (
            merge(yaml.safe_load((ROOT / "apps" / c / "values.yaml").read_text()), overlays[c][group])
            for c in ("recognizer", "ui")
        )
        assert rec["sync"]["ingressController"] == ui["ingress"]["controller"], group
        assert (ui["sync"]["service"], ui["sync"]["port"]) == ("facefleet-recognizer", 8000), group
        assert [p["path"] for p in ui["sync"]["paths"]] == ["/v1/sync/"], group


@pytest.mark.parametrize("target", TARGETS)
def test_ui_relay_range_matches_the_turn_service(rendering, target):
    objs = objects(rendering, target)
    service = next(o for o in objs if o["kind"] == "Service" and o["metadata"]["name"] == "facefleet-turn")
    relay = sorted(p["port"] for p in service["spec"]["ports"] if p["name"].startswith("relay-"))
    assert service["spec"]["type"] == "LoadBalancer"
    assert {(p["port"], p["protocol"]) for p in service["spec"]["ports"] if p["name"].startswith("turn-")} == {
        (3478, "UDP"),
        (3478, "TCP"),
    }
    assert relay == list(range(relay[0], relay[-1] + 1)) and len(relay) <= 128
    policy = next(o for o in objs if o["kind"] == "NetworkPolicy" and o["metadata"]["name"] == "facefleet-ui")
    ranges = [
        (p["port"], p.get("endPort"))
        for rule in policy["spec"]["egress"]
        for p in rule.get("ports", [])
        if p.get("endPort")
    ]
    assert (relay[0], relay[-1]) in ranges
    turn = next(s for o, s in workloads(objs) if o["metadata"]["name"] == "facefleet-turn")
    args = turn["containers"][0]["args"]
    assert f"--min-port={relay[0]}" in args and f"--max-port={relay[-1]}" in args
    assert {"--use-auth-secret", "--static-auth-secret=$(TURN_SECRET)"} <= set(args)
    assert not any(a.startswith(("--user=", "--lt-cred-mech")) for a in args), "a fixed TURN user is configured"


@pytest.mark.parametrize("target", TARGETS)
def test_database_engine_auth_and_storage_per_group(rendering, target, groups):
    objs = objects(rendering, target)
    sts = next(o for o in objs if o["kind"] == "StatefulSet")
    engine = groups["groups"][GROUP_OF[target]]["database"]
    assert sts["metadata"]["labels"]["facefleet.io/engine"] == engine
    image = sts["spec"]["template"]["spec"]["containers"][0]["image"]
    env = _env(sts["spec"]["template"]["spec"])
    if engine == "mongodb":
        assert image.startswith("docker.io/library/mongo:7.")
        assert {"MONGO_INITDB_ROOT_USERNAME", "MONGO_INITDB_ROOT_PASSWORD"} <= set(env)
    else:
        assert image.startswith("ghcr.io/ferretdb/ferretdb:1.24.")
        assert env["FERRETDB_HANDLER"]["value"] == "sqlite"
        assert env["FERRETDB_TEST_ENABLE_NEW_AUTH"]["value"] == "true"
        assert {"FERRETDB_SETUP_USERNAME", "FERRETDB_SETUP_PASSWORD"} <= set(env)
    claims = [sts["spec"]["volumeClaimTemplates"][0]] + [o for o in objs if o["kind"] == "PersistentVolumeClaim"]
    classes = {(c["spec"].get("storageClassName")) for c in claims}
    assert classes == ({"local-path"} if target == "edge" else {None})
    cron = next(o for o in objs if o["kind"] == "CronJob")
    script = cron["spec"]["jobTemplate"]["spec"]["template"]["spec"]["containers"][0]["args"][0]
    assert ("mongodump" in script) == (engine == "mongodb")


def test_edge_fits_a_4_gib_node_and_its_quota_even_during_a_rolling_update(rendering):
    objs = objects(rendering, "edge")
    quota = next(o for o in objs if o["kind"] == "ResourceQuota")["spec"]["hard"]
    totals = {"requests": [0, 0], "limits": [0, 0]}
    surge = {"requests": [0, 0], "limits": [0, 0]}
    for obj, spec in workloads(objs):
        for kind in totals:
            cpu = sum(cpu_millis(c["resources"][kind]["cpu"]) for c in containers(spec))
            mem = sum(memory_bytes(c["resources"][kind]["memory"]) for c in containers(spec))
            totals[kind][0] += cpu * replicas(obj, objs)
            totals[kind][1] += mem * replicas(obj, objs)
            if obj["kind"] == "Deployment":  # maxSurge 1: one extra pod while it rolls
                surge[kind] = [max(surge[kind][0], cpu), max(surge[kind][1], mem)]
    for kind in totals:
        cpu, mem = (a + b for a, b in zip(totals[kind], surge[kind], strict=True))
        assert cpu <= cpu_millis(quota[f"{kind}.cpu"]), kind
        assert mem <= memory_bytes(quota[f"{kind}.memory"]), kind
    # Requests are what the scheduler reserves: leave ~1.5 GiB of a 4 GiB node to k3s and the OS.
    assert totals["requests"][1] + surge["requests"][1] <= memory_bytes("2560Mi")
    assert totals["requests"][0] + surge["requests"][0] <= 2000


def test_cloud_database_is_a_replica_set_one_member_per_node(rendering):
    """The home of users runs three mongod members, never two on one node, a PDB keeping the
    majority, an idempotent initiation; the recognizer and the backup name the same members."""
    objs = objects(rendering, "cloud")
    sts = next(o for o in objs if o["kind"] == "StatefulSet")
    spec = sts["spec"]["template"]["spec"]
    assert sts["spec"]["replicas"] == 3
    anti = spec["affinity"]["podAntiAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"][0]
    assert anti["topologyKey"] == "kubernetes.io/hostname"
    assert anti["labelSelector"]["matchLabels"] == {"app.kubernetes.io/name": "facefleet-database"}
    assert spec["affinity"]["nodeAffinity"], "the edge-node exclusion must survive the merge"
    script = spec["containers"][0]["args"][0]
    assert '--replSet "rs0"' in script and "--keyFile /keyfile/key" in script
    assert "e.code !== 94" in script and "rs.initiate" in script  # only a NotYetInitialized set is initiated
    hosts = re.findall(r'host: "([^"]+)"', script)
    assert hosts == [f"facefleet-database-{i}.facefleet-database:27017" for i in range(3)]
    assert spec["initContainers"][0]["name"] == "keyfile"
    pdb = next(o for o in objs if o["kind"] == "PodDisruptionBudget" and o["metadata"]["name"] == "facefleet-database")
    assert pdb["spec"]["minAvailable"] == 2
    rec = _env(next(s for o, s in workloads(objs) if o["metadata"]["name"] == "facefleet-recognizer"))
    url = rec["MONGO_URL"]["value"]
    assert url == ("mongodb://" + ",".join(hosts) + "/facefleet?authSource=admin&replicaSet=rs0&w=majority")
    backup = next(s for o, s in workloads(objs) if o["metadata"]["name"] == "facefleet-database-backup")
    assert "--host=rs0/" + ",".join(hosts) in backup["containers"][0]["args"][0]
    edge = next(o for o in objects(rendering, "edge") if o["kind"] == "StatefulSet")
    assert edge["spec"]["replicas"] == 1 and "initContainers" not in edge["spec"]["template"]["spec"]


@pytest.mark.parametrize("target", ["cloud", "home"])
def test_cloud_fits_its_quota_at_full_scale(rendering, target):
    """HPAs at their maximum, every replica-set member, one surge pod per Deployment, every claim."""
    objs = objects(rendering, target)
    quota = next(o for o in objs if o["kind"] == "ResourceQuota")["spec"]["hard"]
    hpa_max = {
        o["spec"]["scaleTargetRef"]["name"]: o["spec"]["maxReplicas"]
        for o in objs
        if o["kind"] == "HorizontalPodAutoscaler"
    }
    totals = {"requests": [0, 0], "limits": [0, 0]}
    for obj, spec in workloads(objs):
        count = hpa_max.get(obj["metadata"]["name"], replicas(obj, objs)) + (obj["kind"] == "Deployment")
        for kind in totals:
            totals[kind][0] += count * sum(cpu_millis(c["resources"][kind]["cpu"]) for c in containers(spec))
            totals[kind][1] += count * sum(memory_bytes(c["resources"][kind]["memory"]) for c in containers(spec))
    for kind in totals:
        assert totals[kind][0] <= cpu_millis(quota[f"{kind}.cpu"]), kind
        assert totals[kind][1] <= memory_bytes(quota[f"{kind}.memory"]), kind
    sts = next(o for o in objs if o["kind"] == "StatefulSet")
    claims = [
        (sts["spec"]["replicas"], t["spec"]["resources"]["requests"]["storage"])
        for t in sts["spec"]["volumeClaimTemplates"]
    ]
    claims += [(1, o["spec"]["resources"]["requests"]["storage"]) for o in objs if o["kind"] == "PersistentVolumeClaim"]
    assert sum(n for n, _ in claims) <= int(quota["persistentvolumeclaims"])
    assert sum(n * memory_bytes(size) for n, size in claims) <= memory_bytes(quota["requests.storage"])


@pytest.mark.parametrize("target", TARGETS)
def test_ingress_has_tls_and_the_class_of_the_group(rendering, target):
    """Every ingress serves the ui at / with TLS from facefleet-tls; the home's also serves the
    recognizer's sync routes (prefix /v1/sync/, the recognizer Service's port) on the same host and
    certificate, and a replica's nothing else."""
    ingresses = [o for o in objects(rendering, target) if o["kind"] == "Ingress"]
    assert len(ingresses) == 1
    ingress = ingresses[0]
    assert len(ingress["spec"]["rules"]) == 1
    host = ingress["spec"]["rules"][0]["host"]
    assert ingress["spec"]["tls"] == [{"hosts": [host], "secretName": "facefleet-tls"}]
    assert ingress["spec"]["ingressClassName"] == "traefik"
    paths = {p["path"]: p for p in ingress["spec"]["rules"][0]["http"]["paths"]}
    assert paths["/"]["backend"]["service"] == {"name": "facefleet-ui", "port": {"name": "http"}}
    assert paths["/"]["pathType"] == "Prefix"
    if target != "home":
        assert sorted(paths) == ["/"]
        return
    assert sorted(paths) == ["/", "/v1/sync/"]
    assert paths["/v1/sync/"]["pathType"] == "Prefix"
    assert paths["/v1/sync/"]["backend"]["service"] == {"name": "facefleet-recognizer", "port": {"number": 8000}}
    service = next(
        o
        for o in objects(rendering, target)
        if o["kind"] == "Service" and o["metadata"]["name"] == "facefleet-recognizer"
    )
    assert [p["port"] for p in service["spec"]["ports"]] == [8000]


def test_pod_labels_identify_each_component(rendering):
    names = {pod_labels(o)["app.kubernetes.io/name"] for o, _ in workloads(objects(rendering, "cloud"))}
    assert names == {
        "facefleet-database",
        "facefleet-database-backup",
        "facefleet-recognizer",
        "facefleet-ui",
        "facefleet-turn",
    }


# Images known to be published for linux/arm64 (edge nodes may be arm64): the official FerretDB,
# busybox and coturn images, and ours (the release workflow builds amd64 and arm64).
ARM64_IMAGES = {"ghcr.io/ferretdb/ferretdb", "docker.io/library/busybox", "docker.io/coturn/coturn"}
OURS = re.compile(r"ghcr\.io/[a-z0-9_.-]+/facefleet-(recognizer|ui)")  # the owner is the release's


def test_edge_uses_only_images_published_for_arm64(rendering):
    for obj, spec in workloads(objects(rendering, "edge")):
        for c in containers(spec):
            repo = c["image"].rpartition(":")[0]
            assert repo in ARM64_IMAGES or OURS.fullmatch(repo), f"{obj['metadata']['name']}: {c['image']}"
