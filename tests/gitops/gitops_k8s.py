"""Small helpers over rendered Kubernetes objects, shared by the GitOps tests."""

from __future__ import annotations

import re
from collections.abc import Iterator

WORKLOAD_KINDS = ("Deployment", "StatefulSet", "DaemonSet", "CronJob", "Job")

_MEMORY = {"Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40, "": 1}


# The rendered targets (tools.gitops.layout.targets): each cluster group, whose clusters are
# replicas of the home of users, and the home, a cloud cluster with the home label too.
TARGETS = ["edge", "cloud", "home"]
REPLICAS = ["edge", "cloud"]
GROUP_OF = {"edge": "edge", "cloud": "cloud", "home": "cloud"}


def objects(rendering, target: str) -> list[dict]:
    """Every object deployed to a cluster of target, all bundles together."""
    return [obj for objs in rendering.objects[target].values() for obj in (objs or [])]


def pod_spec(obj: dict) -> dict | None:
    """The pod template spec of a workload, else None."""
    if obj["kind"] == "CronJob":
        return obj["spec"]["jobTemplate"]["spec"]["template"]["spec"]
    if obj["kind"] in WORKLOAD_KINDS:
        return obj["spec"]["template"]["spec"]
    return None


def pod_labels(obj: dict) -> dict:
    if obj["kind"] == "CronJob":
        return obj["spec"]["jobTemplate"]["spec"]["template"]["metadata"]["labels"]
    return obj["spec"]["template"]["metadata"]["labels"]


def workloads(objs: list[dict]) -> Iterator[tuple[dict, dict]]:
    for obj in objs:
        spec = pod_spec(obj)
        if spec is not None:
            yield obj, spec


def containers(spec: dict) -> list[dict]:
    return list(spec.get("initContainers", [])) + list(spec.get("containers", []))


def memory_bytes(value: str) -> int:
    number, unit = re.fullmatch(r"([0-9.]+)([KMGT]i)?", str(value)).groups()
    return int(float(number) * _MEMORY[unit or ""])


def cpu_millis(value) -> int:
    text = str(value)
    return int(text[:-1]) if text.endswith("m") else int(float(text) * 1000)


def replicas(obj: dict, objs: list[dict]) -> int:
    """Pods a workload runs in steady state (an HPA's minimum when one scales it)."""
    for hpa in objs:
        if (
            hpa["kind"] == "HorizontalPodAutoscaler"
            and hpa["spec"]["scaleTargetRef"]["name"] == obj["metadata"]["name"]
        ):
            return hpa["spec"]["minReplicas"]
    if obj["kind"] in ("CronJob", "Job"):
        return 1
    return obj["spec"].get("replicas", 1)


def merge(base: dict, over: dict) -> dict:
    """Helm's and Fleet's merge of values: mappings key by key, anything else replaced."""
    out = dict(base)
    for key, value in over.items():
        out[key] = merge(out[key], value) if isinstance(value, dict) and isinstance(out.get(key), dict) else value
    return out


def fleet_templated(values, cluster: str):
    """values as Fleet's templating leaves them for a cluster named `cluster` without optional labels:
    a string holding `${ ... }` (the recognizer's site) becomes the cluster's name."""
    if isinstance(values, dict):
        return {k: fleet_templated(v, cluster) for k, v in values.items()}
    if isinstance(values, list):
        return [fleet_templated(v, cluster) for v in values]
    return cluster if isinstance(values, str) and "${" in values else values
