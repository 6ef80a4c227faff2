"""A read-only Kubernetes API on 127.0.0.1 holding only what Fleet's targeting reads.

`fleet target` runs the controller's own targeting code (Targets, partitions, cluster-label
substitution into values) against Clusters and ClusterGroups it lists from an API server. Rendering
must not need a management cluster, so this serves those objects from memory: discovery for the
fleet.cattle.io group, and list/get of the kinds targeting asks for (anything absent is an empty
list or a 404, as on a management cluster without it).
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

GROUP, VERSION = "fleet.cattle.io", "v1alpha1"
# plural -> kind of every fleet.cattle.io resource targeting may list (all namespaced).
FLEET_KINDS = {
    "clusters": "Cluster",
    "clustergroups": "ClusterGroup",
    "bundledeployments": "BundleDeployment",
    "bundlenamespacemappings": "BundleNamespaceMapping",
    "gitreporestrictions": "GitRepoRestriction",
    "bundles": "Bundle",
}
CORE_KINDS = {"namespaces": ("Namespace", False), "secrets": ("Secret", True)}


@dataclass
class Store:
    """Objects by plural, each a full Kubernetes object (apiVersion, kind, metadata, ...)."""

    objects: dict[str, list[dict[str, Any]]] = field(default_factory=dict)

    def add(self, obj: dict[str, Any]) -> None:
        plural = next((p for p, k in FLEET_KINDS.items() if k == obj["kind"]), None)
        plural = plural or next((p for p, (k, _) in CORE_KINDS.items() if k == obj["kind"]), None)
        if plural is None:
            raise ValueError(f"the fake API does not serve kind {obj['kind']!r}")
        self.objects.setdefault(plural, []).append(obj)

    def select(self, plural: str, namespace: str | None) -> list[dict[str, Any]]:
        return [
            o for o in self.objects.get(plural, []) if namespace is None or o["metadata"].get("namespace") == namespace
        ]


def _resource_list(group_version: str, kinds: dict[str, tuple[str, bool]]) -> dict[str, Any]:
    return {
        "kind": "APIResourceList",
        "apiVersion": "v1",
        "groupVersion": group_version,
        "resources": [
            {
                "name": plural,
                "singularName": kind.lower(),
                "namespaced": namespaced,
                "kind": kind,
                "verbs": ["get", "list", "watch"],
            }
            for plural, (kind, namespaced) in kinds.items()
        ],
    }


def _route(store: Store, path: str) -> tuple[int, dict[str, Any]]:
    """The JSON answer to a GET of path (query strings are ignored: nothing here is large)."""
    fleet_gv = f"{GROUP}/{VERSION}"
    if path == "/api":
        return 200, {
            "kind": "APIVersions",
            "versions": ["v1"],
            "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": "127.0.0.1"}],
        }
    if path == "/apis":
        version = {"groupVersion": fleet_gv, "version": VERSION}
        return 200, {
            "kind": "APIGroupList",
            "apiVersion": "v1",
            "groups": [{"name": GROUP, "versions": [version], "preferredVersion": version}],
        }
    if path == "/api/v1":
        return 200, _resource_list("v1", CORE_KINDS)
    if path == f"/apis/{fleet_gv}":
        return 200, _resource_list(fleet_gv, {p: (k, True) for p, k in FLEET_KINDS.items()})
    parts = path.strip("/").split("/")
    prefix = ["api", "v1"] if parts[:1] == ["api"] else ["apis", GROUP, VERSION]
    api_version = "v1" if parts[:1] == ["api"] else fleet_gv
    rest = parts[len(prefix) :] if parts[: len(prefix)] == prefix else None
    namespace = None
    if rest and rest[0] == "namespaces" and len(rest) >= 3:
        namespace, rest = rest[1], rest[2:]
    kinds = {p: k for p, (k, _) in CORE_KINDS.items()} if api_version == "v1" else FLEET_KINDS
    if not rest or rest[0] not in kinds or len(rest) > 2:
        return 404, _status(404, f"the fake API serves no {path}")
    items = store.select(rest[0], namespace)
    if len(rest) == 2:
        found = [o for o in items if o["metadata"]["name"] == rest[1]]
        return (200, found[0]) if found else (404, _status(404, f"{rest[0]} {rest[1]!r} not found"))
    return 200, {
        "apiVersion": api_version,
        "kind": kinds[rest[0]] + "List",
        "metadata": {"resourceVersion": "1"},
        "items": items,
    }


def _status(code: int, message: str) -> dict[str, Any]:
    return {
        "kind": "Status",
        "apiVersion": "v1",
        "status": "Failure",
        "message": message,
        "reason": "NotFound" if code == 404 else "MethodNotAllowed",
        "code": code,
    }


def _handler(store: Store) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
            code, body = _route(store, urlparse(self.path).path)
            self._send(code, body)

        def _refuse(self) -> None:
            self._send(405, _status(405, "the fake API is read-only"))

        do_POST = do_PUT = do_PATCH = do_DELETE = _refuse  # noqa: N815

        def _send(self, code: int, body: dict[str, Any]) -> None:
            data = json.dumps(body).encode()
            self.send_response(code)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, format: str, *args: object) -> None:  # quiet: callers read the CLI's errors
            pass

    return Handler


def kubeconfig(url: str) -> str:
    """A kubeconfig that points at url without credentials."""
    return (
        "apiVersion: v1\nkind: Config\n"
        f'clusters: [{{name: fake, cluster: {{server: "{url}"}}}}]\n'
        "users: [{name: fake, user: {}}]\n"
        "contexts: [{name: fake, context: {cluster: fake, user: fake}}]\n"
        "current-context: fake\n"
    )


@contextmanager
def serve(store: Store, kubeconfig_path: Path) -> Iterator[Path]:
    """Serve store on a free local port for the duration of the block; yields a kubeconfig for it."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(store))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        kubeconfig_path.parent.mkdir(parents=True, exist_ok=True)
        kubeconfig_path.write_text(kubeconfig(f"http://127.0.0.1:{server.server_address[1]}"))
        yield kubeconfig_path
    finally:
        server.shutdown()
        server.server_close()
