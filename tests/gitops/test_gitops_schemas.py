"""Rendered objects against the Kubernetes 1.31 schemas (kubeconform -strict); fleet.yaml files and
clusters/ against Fleet's own schemas; chart values against their values.schema.json."""

from __future__ import annotations

import json
import subprocess

import jsonschema
import pytest
import yaml
from gitops_k8s import TARGETS, merge, objects
from gitops_paths import ROOT

from tools.gitops.k8s_schemas import kubeconform_location
from tools.gitops.layout import BUNDLES, groups_file, tool

K8S_VERSION = groups_file()["kubernetes"]["version"] + ".0"


def _kubeconform(docs: list[dict], location: str, version: str | None = K8S_VERSION) -> dict:
    args = [tool("kubeconform"), "-strict", "-summary", "-verbose", "-output", "json", "-schema-location", location]
    if version:
        args += ["-kubernetes-version", version]
    proc = subprocess.run(args + ["-"], input=yaml.safe_dump_all(docs), capture_output=True, text=True, timeout=120)
    report = json.loads(proc.stdout)
    return report


@pytest.mark.parametrize("target", TARGETS)
def test_rendered_objects_validate_strictly_against_k8s_schemas(rendering, target):
    docs = objects(rendering, target)
    report = _kubeconform(docs, kubeconform_location(K8S_VERSION))
    problems = [r for r in report["resources"] if r["status"] != "statusValid"]
    assert not problems, problems
    assert report["summary"]["valid"] == len(docs) > 0


def test_kubeconform_rejects_a_typo_so_the_schemas_are_really_used():
    bad = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "x"},
        "spec": {
            "replica": 1,
            "selector": {"matchLabels": {"a": "b"}},
            "template": {"metadata": {"labels": {"a": "b"}}, "spec": {"containers": [{"name": "c", "image": "i:1"}]}},
        },
    }
    report = _kubeconform([bad], kubeconform_location(K8S_VERSION))
    assert report["resources"][0]["status"] == "statusInvalid"


@pytest.mark.shared
@pytest.mark.parametrize("bundle", sorted(BUNDLES))
def test_fleet_yaml_validates_against_fleet_schema(fleet_schemas, bundle):
    schema = json.loads((fleet_schemas / "fleet.yaml.schema.json").read_text())
    data = yaml.safe_load((ROOT / BUNDLES[bundle] / "fleet.yaml").read_text())
    validator = jsonschema.Draft202012Validator(schema)
    errors = sorted(validator.iter_errors(data), key=str)
    assert not errors, [f"{list(e.absolute_path)}: {e.message}" for e in errors]


@pytest.mark.shared
def test_clusters_objects_validate_against_fleet_crd_schemas(fleet_schemas):
    docs = [d for p in sorted((ROOT / "clusters").glob("*.yaml")) for d in yaml.safe_load_all(p.read_text()) if d]
    assert sorted(d["kind"] for d in docs) == ["ClusterGroup"] * 3 + ["GitRepo"]  # edge, cloud, home
    location = str(fleet_schemas / "jsonschema-strict") + "/{{ .ResourceKind }}_{{ .ResourceAPIVersion }}.json"
    report = _kubeconform(docs, location, version=None)
    problems = [r for r in report["resources"] if r["status"] != "statusValid"]
    assert not problems, problems
    assert report["summary"]["valid"] == 4


@pytest.mark.parametrize("bundle", sorted(BUNDLES))
def test_values_and_every_overlay_satisfy_values_schema(bundle, overlays):
    chart = ROOT / ("base" if bundle == "base" else BUNDLES[bundle])
    schema = json.loads((chart / "values.schema.json").read_text())
    jsonschema.Draft7Validator.check_schema(schema)
    defaults = yaml.safe_load((chart / "values.yaml").read_text())
    jsonschema.validate(defaults, schema)
    for values in overlays[bundle].values():
        jsonschema.validate(merge(defaults, values), schema)


def _helm_template(chart, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [tool("helm"), "template", "x", str(chart), *args], capture_output=True, text=True, timeout=60
    )


# A value each shared definition forbids (image: an unpinned tag; quantityPair through resources:
# a unit Kubernetes would read as bytes), refused through the schema's $ref.
_FORBIDDEN = [
    (chart, key, value, message)
    for chart in ("apps/recognizer", "apps/ui", "apps/database", "apps/turn")
    for key, value, message in (
        ("mongodb.image.tag" if chart == "apps/database" else "image.tag", "latest", "schema"),
        (
            ("backup." if chart == "apps/database" else "") + "resources.requests.memory",
            "1GB",
            "does not match pattern",
        ),
    )
]


@pytest.mark.parametrize(("chart", "key", "value", "message"), _FORBIDDEN)
def test_helm_refuses_a_value_a_shared_definition_forbids(chart, key, value, message, charts):
    proc = _helm_template(charts / chart, "--set", f"{key}={value}")
    assert proc.returncode != 0 and message in proc.stderr, proc.stderr


@pytest.mark.parametrize("bundle", sorted(BUNDLES))
def test_helm_lint_strict_with_each_group_overlay(bundle, overlays, tmp_path, charts):
    chart = charts / ("base" if bundle == "base" else BUNDLES[bundle])
    for group, overlay in overlays[bundle].items():
        values = tmp_path / f"{group}.yaml"
        values.write_text(yaml.safe_dump(overlay))
        proc = subprocess.run(
            [tool("helm"), "lint", "--strict", str(chart), "-f", str(values)],
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert proc.returncode == 0, f"{bundle}/{group}: {proc.stdout}{proc.stderr}"


def test_the_embedding_key_rotation_step_renders(charts):
    """clusters/README.md's rotation step 2 (`extraEnv` with a secretKeyRef) passes the chart's schema and
    reaches the recognizer container, next to the current key."""
    extra = [
        {
            "name": "FACEFLEET_EMBEDDING_KEY_PREVIOUS",
            "valueFrom": {"secretKeyRef": {"name": "facefleet-recognizer-previous", "key": "embedding-key"}},
        }
    ]
    proc = subprocess.run(
        [tool("helm"), "template", "x", str(charts / "apps/recognizer"), "--set-json", f"extraEnv={json.dumps(extra)}"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    deployment = next(d for d in yaml.safe_load_all(proc.stdout) if d and d["kind"] == "Deployment")
    env = {e["name"]: e for e in deployment["spec"]["template"]["spec"]["containers"][0]["env"]}
    assert env["FACEFLEET_EMBEDDING_KEY_PREVIOUS"] == extra[0]
    assert env["FACEFLEET_EMBEDDING_KEY"]["valueFrom"]["secretKeyRef"]["key"] == "embedding-key"


def test_chart_schemas_equal_what_make_schemas_generates():
    """The definitions the charts share come from apps/lib/schema/definitions.json, once."""
    from tools.gitops.schemas import differences

    diffs = differences()
    assert not diffs, "run `make schemas` and commit the result:\n" + "\n".join(diffs)


def test_the_generator_copies_only_what_a_schema_references():
    from tools.gitops.schemas import generate, shared_definitions

    shared = shared_definitions()
    out = generate({"type": "object", "properties": {"resources": {"$ref": "#/definitions/resources"}}}, shared)
    assert sorted(out["definitions"]) == ["group", "quantityPair", "resources"]
    assert out["properties"]["group"] == {"$ref": "#/definitions/group"}
    assert shared["group"]["enum"] == list(groups_file()["groups"])


def test_helm_refuses_a_malformed_group_in_the_library(charts):
    proc = subprocess.run(
        [
            tool("helm"),
            "template",
            "x",
            str(charts / "apps/turn"),
            "--set",
            "facefleet-lib.groups.edge.database=oracle",
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode != 0 and "facefleet-lib" in proc.stderr and "/groups/edge/database" in proc.stderr


def test_fleet_deploy_refuses_a_value_the_schema_forbids(rendering, tmp_path):
    """Fleet's own Helm (inside `fleet deploy`, as on the agent) applies the same schemas and $refs."""
    from tools.gitops.engines import EngineError, fleet_deploy_dry_run, fleet_target
    from tools.gitops.fakeapi import serve
    from tools.gitops.layout import kube_version, targets
    from tools.gitops.render import cluster_store, workspace

    bundle = next(b for b in rendering.bundles if b["metadata"]["labels"]["facefleet.io/bundle"] == "turn")
    edge = [t for t in targets(rendering.tree) if t.name == "edge"]  # alone, as tools.gitops.render targets it
    with serve(cluster_store(rendering.tree, edge), tmp_path / "kubeconfig.yaml") as kubeconfig:
        content, deployments = fleet_target(bundle, workspace(rendering.tree), kubeconfig, tmp_path)
    deployment = deployments["edge"]
    assert fleet_deploy_dry_run(content, deployment, tmp_path, kube_version())  # valid as committed
    deployment["spec"]["options"]["helm"]["values"]["resources"]["requests"]["memory"] = "1GB"
    with pytest.raises(EngineError, match="does not match pattern"):
        fleet_deploy_dry_run(content, deployment, tmp_path, kube_version())
