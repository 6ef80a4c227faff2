"""A small Kubernetes API client over httpx (client-certificate auth), plus `kubectl apply`.

The rehearsal and its tests only need get, list, create, patch and delete on a handful of kinds,
so a typed client generated for every API group would be more to read than this."""

from __future__ import annotations

import base64
import json
import ssl
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import yaml

from .layout import BIN, ClusterSpec
from .pki import ClusterPKI

# Plural resource path per kind: (API prefix, plural, namespaced).
KINDS: dict[str, tuple[str, str, bool]] = {
    "Namespace": ("api/v1", "namespaces", False),
    "Node": ("api/v1", "nodes", False),
    "Pod": ("api/v1", "pods", True),
    "Service": ("api/v1", "services", True),
    "Secret": ("api/v1", "secrets", True),
    "ConfigMap": ("api/v1", "configmaps", True),
    "ServiceAccount": ("api/v1", "serviceaccounts", True),
    "PersistentVolumeClaim": ("api/v1", "persistentvolumeclaims", True),
    "PersistentVolume": ("api/v1", "persistentvolumes", False),
    "ResourceQuota": ("api/v1", "resourcequotas", True),
    "LimitRange": ("api/v1", "limitranges", True),
    "Event": ("api/v1", "events", True),
    "Deployment": ("apis/apps/v1", "deployments", True),
    "StatefulSet": ("apis/apps/v1", "statefulsets", True),
    "DaemonSet": ("apis/apps/v1", "daemonsets", True),
    "Job": ("apis/batch/v1", "jobs", True),
    "CronJob": ("apis/batch/v1", "cronjobs", True),
    "HorizontalPodAutoscaler": ("apis/autoscaling/v2", "horizontalpodautoscalers", True),
    "PodDisruptionBudget": ("apis/policy/v1", "poddisruptionbudgets", True),
    "NetworkPolicy": ("apis/networking.k8s.io/v1", "networkpolicies", True),
    "Ingress": ("apis/networking.k8s.io/v1", "ingresses", True),
    "IngressClass": ("apis/networking.k8s.io/v1", "ingressclasses", False),
    "StorageClass": ("apis/storage.k8s.io/v1", "storageclasses", False),
    "Lease": ("apis/coordination.k8s.io/v1", "leases", True),
    "GitRepo": ("apis/fleet.cattle.io/v1alpha1", "gitrepos", True),
    "Bundle": ("apis/fleet.cattle.io/v1alpha1", "bundles", True),
    "BundleDeployment": ("apis/fleet.cattle.io/v1alpha1", "bundledeployments", True),
    "Cluster": ("apis/fleet.cattle.io/v1alpha1", "clusters", True),
    "ClusterGroup": ("apis/fleet.cattle.io/v1alpha1", "clustergroups", True),
    "ClusterRegistration": ("apis/fleet.cattle.io/v1alpha1", "clusterregistrations", True),
    "ClusterRegistrationToken": ("apis/fleet.cattle.io/v1alpha1", "clusterregistrationtokens", True),
}


class KubeError(RuntimeError):
    """An API call failed; the message names the cluster, the verb and the object."""

    def __init__(self, cluster: str, what: str, status: int, body: str) -> None:
        super().__init__(f"{cluster}: {what} -> HTTP {status}: {body[:500]}")
        self.status = status


class Kube:
    """One cluster's API server, reached with its admin client certificate."""

    def __init__(self, spec: ClusterSpec, timeout: float = 10.0) -> None:
        self.spec = spec
        pki = ClusterPKI(spec.folder / "pki")
        context = ssl.create_default_context(cafile=str(pki.ca_cert))
        context.load_cert_chain(str(pki.admin_cert), str(pki.admin_key))
        self._http = httpx.Client(base_url=spec.server, verify=context, timeout=timeout)

    @property
    def name(self) -> str:
        return self.spec.name

    def close(self) -> None:
        self._http.close()

    @staticmethod
    def _path(kind: str, namespace: str | None, name: str | None = None, sub: str | None = None) -> str:
        prefix, plural, namespaced = KINDS[kind]
        path = f"/{prefix}"
        if namespaced and namespace:
            path += f"/namespaces/{namespace}"
        path += f"/{plural}"
        if name:
            path += f"/{name}"
        if sub:
            path += f"/{sub}"
        return path

    def _call(self, method: str, path: str, what: str, **kwargs: Any) -> dict:
        response = self._http.request(method, path, **kwargs)
        if response.status_code >= 400:
            raise KubeError(self.name, what, response.status_code, response.text)
        return response.json() if response.content else {}

    def get(self, kind: str, name: str, namespace: str | None = None) -> dict | None:
        """The object, or None when it does not exist."""
        try:
            return self._call("GET", self._path(kind, namespace, name), f"get {kind} {namespace}/{name}")
        except KubeError as err:
            if err.status == 404:
                return None
            raise

    def list(self, kind: str, namespace: str | None = None, labels: str | None = None) -> list[dict]:
        params = {"labelSelector": labels} if labels else {}
        body = self._call("GET", self._path(kind, namespace), f"list {kind} in {namespace or 'all'}", params=params)
        return body.get("items", [])

    def apply(self, obj: dict, manager: str = "facefleet-rehearsal") -> dict:
        """Server-side apply of one object (created or updated; our fields win)."""
        meta = obj["metadata"]
        return self._call(
            "PATCH",
            self._path(obj["kind"], meta.get("namespace"), meta["name"]),
            f"apply {obj['kind']} {meta.get('namespace')}/{meta['name']}",
            params={"fieldManager": manager, "force": "true"},
            content=json.dumps(obj),
            headers={"Content-Type": "application/apply-patch+yaml"},
        )

    def patch(
        self,
        kind: str,
        name: str,
        patch: dict,
        namespace: str | None = None,
        sub: str | None = None,
        merge: str = "merge",
    ) -> dict:
        return self._call(
            "PATCH",
            self._path(kind, namespace, name, sub),
            f"patch {kind} {namespace}/{name}{'/' + sub if sub else ''}",
            content=json.dumps(patch),
            headers={"Content-Type": f"application/{merge}-patch+json"},
        )

    def raw(self, path: str) -> httpx.Response:
        return self._http.get(path)

    def request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        """Any call, with the full response (headers included, e.g. admission warnings)."""
        return self._http.request(method, path, **kwargs)

    def ready(self) -> bool:
        try:
            return self._http.get("/readyz", timeout=2).status_code == 200
        except httpx.HTTPError:
            return False

    def kubectl(self, *args: str, stdin: str | None = None, check: bool = True) -> subprocess.CompletedProcess:
        """kubectl against this cluster (the rehearsal's own build of it)."""
        proc = subprocess.run(
            [str(BIN / "kubectl"), "--kubeconfig", str(self.spec.kubeconfig), *args],
            input=stdin,
            capture_output=True,
            text=True,
            timeout=120,
        )
        if check and proc.returncode != 0:
            raise KubeError(self.name, "kubectl " + " ".join(args), proc.returncode, proc.stderr)
        return proc

    def apply_files(self, *paths: Path) -> None:
        for path in paths:
            self.kubectl("apply", "--server-side", "--force-conflicts", "-f", str(path))

    def apply_yaml(self, text: str) -> None:
        self.kubectl("apply", "--server-side", "--force-conflicts", "-f", "-", stdin=text)


def write_kubeconfig(spec: ClusterSpec) -> Path:
    """An admin kubeconfig with the credentials embedded, so it works from any folder."""
    pki = ClusterPKI(spec.folder / "pki")
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "current-context": spec.name,
        "clusters": [
            {"name": spec.name, "cluster": {"server": spec.server, "certificate-authority-data": _b64(pki.ca_cert)}}
        ],
        "users": [
            {
                "name": f"{spec.name}-admin",
                "user": {"client-certificate-data": _b64(pki.admin_cert), "client-key-data": _b64(pki.admin_key)},
            }
        ],
        "contexts": [{"name": spec.name, "context": {"cluster": spec.name, "user": f"{spec.name}-admin"}}],
    }
    spec.kubeconfig.write_text(yaml.safe_dump(config, sort_keys=False))
    spec.kubeconfig.chmod(0o600)
    return spec.kubeconfig


def _b64(path: Path) -> str:
    return base64.b64encode(path.read_bytes()).decode()


def wait_for(what: str, check: Callable[[], Any], timeout: float, interval: float = 1.0) -> Any:
    """Poll check() until it returns something truthy; TimeoutError names `what` and the last value."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while True:
        try:
            last = check()
        except (KubeError, httpx.HTTPError) as err:
            last = err
        else:
            if last:
                return last
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {timeout:.0f} s waiting for {what} (last: {str(last)[:800]})")
        time.sleep(interval)
