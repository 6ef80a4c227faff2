"""Runs the Jobs that Fleet's gitjob creates, on the host, as their pods would.

gitjob turns each new commit into a Job whose pod runs `fleet gitcloner` (init container) and then
`fleet apply`. kwok never starts containers, so this runner stands in for the kubelet of that one
pod: it reads the Job gitjob created, runs exactly its containers' commands and environment with
each volume mapped to a folder, then reports the pod Succeeded or Failed, from which the real Job
controller and gitjob carry on. It is the only part of the GitRepo -> gitjob -> Bundle path that is
not Fleet's own code (tests/rehearsal/README.md).

    python -m tools.rehearsal.jobrunner   # runs until stopped (started by the rehearsal)
"""

from __future__ import annotations

import base64
import datetime as dt
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

from .kube import Kube, KubeError
from .layout import FLEET_CLI, MANAGEMENT, STATE, WORKSPACE

JOBS = STATE / "jobs"


def _now() -> str:
    return dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class PodRunner:
    """One Job pod: volumes as folders, containers as host processes."""

    def __init__(self, kube: Kube, pod: dict) -> None:
        self.kube = kube
        self.pod = pod
        self.name = pod["metadata"]["name"]
        self.folder = JOBS / self.name
        self.volumes: dict[str, Path] = {}

    def _materialize_volumes(self) -> None:
        ns = self.pod["metadata"]["namespace"]
        for volume in self.pod["spec"].get("volumes", []):
            path = self.folder / "volumes" / volume["name"]
            path.mkdir(parents=True, exist_ok=True)
            if "configMap" in volume:
                cm = self.kube.get("ConfigMap", volume["configMap"]["name"], ns) or {}
                files = {k: v.encode() for k, v in (cm.get("data") or {}).items()}
                files |= {k: base64.b64decode(v) for k, v in (cm.get("binaryData") or {}).items()}
                self._write(path, files, volume["configMap"].get("items"))
            elif "secret" in volume:
                secret = self.kube.get("Secret", volume["secret"]["secretName"], ns)
                if secret is None and not volume["secret"].get("optional"):
                    raise RuntimeError(f"Secret {ns}/{volume['secret']['secretName']} is missing")
                files = {k: base64.b64decode(v) for k, v in ((secret or {}).get("data") or {}).items()}
                self._write(path, files, volume["secret"].get("items"))
            self.volumes[volume["name"]] = path

    @staticmethod
    def _write(folder: Path, files: dict[str, bytes], items: list | None) -> None:
        mapping = {i["key"]: i["path"] for i in items} if items else {k: k for k in files}
        for key, rel in mapping.items():
            if key in files:
                (folder / rel).parent.mkdir(parents=True, exist_ok=True)
                (folder / rel).write_bytes(files[key])

    def _mounts(self, container: dict) -> list[tuple[str, Path]]:
        """(container path, host path), longest container path first."""
        mounts = []
        for mount in container.get("volumeMounts", []):
            host = self.volumes[mount["name"]]
            if mount.get("subPath"):
                host = host / mount["subPath"]
            mounts.append((mount["mountPath"].rstrip("/"), host))
        return sorted(mounts, key=lambda m: len(m[0]), reverse=True)

    @staticmethod
    def _rewrite(value: str, mounts: list[tuple[str, Path]]) -> str:
        for container_path, host in mounts:
            if value == container_path or value.startswith(container_path + "/"):
                return str(host) + value[len(container_path) :]
            marker = "=" + container_path
            if marker in value:  # --flag=/path
                head, tail = value.split(marker, 1)
                if tail == "" or tail.startswith("/"):
                    return f"{head}={host}{tail}"
        return value

    def _env(self, container: dict, mounts: list[tuple[str, Path]]) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("KUBE", "FLEET_", "COMMIT"))}
        env["KUBECONFIG"] = str(MANAGEMENT.kubeconfig)  # instead of the pod's service-account token
        ns = self.pod["metadata"]["namespace"]
        for item in container.get("env", []):
            if "value" in item:
                env[item["name"]] = self._rewrite(item["value"], mounts)
            elif ref := item.get("valueFrom", {}).get("secretKeyRef"):
                secret = self.kube.get("Secret", ref["name"], ns)
                data = (secret or {}).get("data", {})
                if ref["key"] in data:
                    env[item["name"]] = base64.b64decode(data[ref["key"]]).decode()
                elif not ref.get("optional"):
                    raise RuntimeError(f"env {item['name']}: Secret {ns}/{ref['name']} has no {ref['key']}")
        return env

    def _run_container(self, container: dict, log) -> int:
        mounts = self._mounts(container)
        command = [*container.get("command", []), *container.get("args", [])]
        if not command:
            raise RuntimeError(f"container {container['name']} has no command")
        # Container paths become host folders; the host's own paths (the fleet binary, which may
        # well live under a folder the pod mounts, such as /tmp) are put in afterwards.
        command = [self._rewrite(arg, mounts) for arg in command]
        if command[0] in ("fleet", "/usr/bin/fleet"):
            command[0] = str(FLEET_CLI)
        cwd = self._rewrite(container.get("workingDir", "/"), mounts) if container.get("workingDir") else None
        log.write(f"--- {container['name']}: {command} (cwd {cwd})\n".encode())
        log.flush()
        proc = subprocess.run(
            command, cwd=cwd, env=self._env(container, mounts), stdout=log, stderr=subprocess.STDOUT, timeout=600
        )
        log.write(f"--- {container['name']} exited {proc.returncode}\n".encode())
        return proc.returncode

    def run(self) -> None:
        shutil.rmtree(self.folder, ignore_errors=True)
        self.folder.mkdir(parents=True)
        started = _now()
        self._set_status("Running", started, [])
        results = []
        with open(self.folder / "output.log", "wb") as log:
            try:
                self._materialize_volumes()
                code = 0
                for container in self.pod["spec"].get("initContainers", []):
                    code = self._run_container(container, log)
                    results.append((container["name"], code))
                    if code:
                        break
                if code == 0:
                    for container in self.pod["spec"]["containers"]:
                        code = self._run_container(container, log)
                        results.append((container["name"], code))
                        if code:
                            break
            except Exception as err:  # report it on the pod, as a kubelet would
                log.write(f"--- runner error: {err}\n".encode())
                results.append(("runner", 1))
        tail = (self.folder / "output.log").read_text(errors="replace")[-2000:]
        phase = "Succeeded" if results and all(code == 0 for _, code in results) else "Failed"
        self._set_status(phase, started, results, tail)

    def _set_status(self, phase: str, started: str, results: list[tuple[str, int]], message: str = "") -> None:
        statuses = []
        for container in self.pod["spec"]["containers"]:
            code = dict(results).get(container["name"], 1 if phase == "Failed" else 0)
            state = (
                {"running": {"startedAt": started}}
                if phase == "Running"
                else {
                    "terminated": {
                        "exitCode": code,
                        "reason": "Completed" if code == 0 else "Error",
                        "message": message if code else "",
                        "startedAt": started,
                        "finishedAt": _now(),
                    }
                }
            )
            statuses.append(
                {
                    "name": container["name"],
                    "image": container.get("image", ""),
                    "imageID": "",
                    "ready": phase == "Running",
                    "restartCount": 0,
                    "started": phase == "Running",
                    "state": state,
                }
            )
        status = {
            "phase": phase,
            "startTime": started,
            "hostIP": "127.0.0.1",
            "conditions": [{"type": "Initialized", "status": "True"}, {"type": "PodScheduled", "status": "True"}],
            "containerStatuses": statuses,
        }
        self.kube.patch("Pod", self.name, {"status": status}, self.pod["metadata"]["namespace"], sub="status")


def _bind(kube: Kube, pod: dict, node: str) -> None:
    ns, name = pod["metadata"]["namespace"], pod["metadata"]["name"]
    binding = {
        "apiVersion": "v1",
        "kind": "Binding",
        "metadata": {"name": name, "namespace": ns},
        "target": {"apiVersion": "v1", "kind": "Node", "name": node},
    }
    response = kube.request("POST", f"/api/v1/namespaces/{ns}/pods/{name}/binding", json=binding)
    if response.status_code >= 400:
        raise KubeError(kube.name, f"bind Pod {ns}/{name}", response.status_code, response.text)


RUNNER_NODE = "gitjob-runner"


def ensure_runner_node(kube: Kube) -> None:
    """A Node object the Job pods are bound to (no kubelet: this runner is its kubelet)."""
    kube.apply(
        {
            "apiVersion": "v1",
            "kind": "Node",
            "metadata": {
                "name": RUNNER_NODE,
                "labels": {"kubernetes.io/hostname": RUNNER_NODE, "kubernetes.io/os": "linux"},
            },
            "spec": {"taints": [{"key": "rehearsal.facefleet.io/runner", "value": "true", "effect": "NoSchedule"}]},
        }
    )


def loop(interval: float = 1.0) -> None:
    kube = Kube(MANAGEMENT)
    ensure_runner_node(kube)
    done: set[str] = set()
    while True:
        try:
            for pod in kube.list("Pod", WORKSPACE):
                uid = pod["metadata"]["uid"]
                owners = pod["metadata"].get("ownerReferences", [])
                if uid in done or not any(o["kind"] == "Job" for o in owners):
                    continue
                if pod.get("status", {}).get("phase") in ("Succeeded", "Failed"):
                    done.add(uid)
                    continue
                done.add(uid)
                print(f"{_now()} running pod {pod['metadata']['name']}", flush=True)
                if not pod["spec"].get("nodeName"):
                    _bind(kube, pod, RUNNER_NODE)
                PodRunner(kube, pod).run()
                print(f"{_now()} finished pod {pod['metadata']['name']}", flush=True)
        except (KubeError, OSError) as err:
            print(f"{_now()} runner: {err}", file=sys.stderr, flush=True)
        time.sleep(interval)


if __name__ == "__main__":
    loop()
