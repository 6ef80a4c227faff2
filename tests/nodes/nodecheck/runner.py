"""The thin testinfra layer: reach a host, run the rules' commands there, never crash on it."""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, Mapping

import testinfra

from .config import load_groups, load_kube_version
from .inventory import Inventory, NodeSpec
from .model import Context, Finding, Output, failed, passed, skipped
from .postflight import postflight_rules
from .preflight import preflight_rules
from .rules import Rule, Runners

PHASES = ("preflight", "postflight")


class Unreachable(Exception):
    """The host (or the connection to it) is gone; the message is ssh's own reason."""


def _reason(exc: BaseException) -> str:
    """ssh's last words from testinfra's RuntimeError(CommandResult), else the exception text."""
    result = exc.args[0] if exc.args else None
    stderr = getattr(result, "stderr", None)
    if isinstance(stderr, str) and stderr.strip():
        lines = [ln for ln in stderr.strip().splitlines() if ln.strip()]
        return lines[-1].strip()
    return str(exc).strip().splitlines()[-1] if str(exc).strip() else type(exc).__name__


class HostRunner:
    """Runs shell commands on one testinfra host, caching each command's output for the run."""

    def __init__(self, host: Any, label: str):
        self.host, self.label = host, label
        self._cache: dict[str, Output] = {}

    def __call__(self, command: str) -> Output:
        if command not in self._cache:
            try:
                result = self.host.run(command)
            except Exception as exc:  # testinfra raises on ssh failure (exit 255), paramiko errors…
                raise Unreachable(_reason(exc)) from exc
            self._cache[command] = Output(result.rc, result.stdout, result.stderr)
        return self._cache[command]


def connect(address: str, *, sudo: bool = False, ssh_config: str | None = None,
            ssh_identity_file: str | None = None, controlpersist: int = 60,
            timeout: int = 10) -> Any:
    """A testinfra host. ssh runs in batch mode, so a missing key fails instead of prompting."""
    kwargs: dict[str, Any] = {"sudo": sudo}
    if address.startswith("ssh://"):
        kwargs.update(ssh_config=ssh_config, ssh_identity_file=ssh_identity_file,
                      controlpersist=controlpersist, timeout=timeout,
                      ssh_extra_args="-o BatchMode=yes")
    return testinfra.get_host(address, **kwargs)


def check_reachable(node: NodeSpec, run: Callable[[str], Output]) -> Finding:
    """The first check of every host: can we run a command there at all?"""
    try:
        out = run("echo nodecheck-ok")
    except Unreachable as exc:
        return failed("reachable", f"no connection to {node.address} ({exc})",
                      "a shell on the host", "check the address and port, that sshd runs there "
                      "and that the inventory's user and key are authorised")
    if out.stdout.strip() != "nodecheck-ok":
        return failed("reachable", f"{node.address} answering "
                      f"{out.first_line()!r} to `echo`", "a POSIX shell",
                      "give the checks a login with a POSIX shell (sh, bash)")
    return passed("reachable", f"{node.name} answers over {node.address.split('://')[0]}")


def no_cluster_runner(reason: str) -> Callable[[str], Output]:
    def run(command: str) -> Output:
        return Output(127, "", reason)
    return run


def run_rule(rule: Rule, runners: Runners, ctx: Context) -> Finding:
    """One rule, with connection loss and unparseable output turned into findings."""
    try:
        return rule.check(runners, ctx)
    except Unreachable as exc:
        return failed(rule.name, f"the host unreachable while checking ({exc})",
                      "the connection to stay up", "check the network and run the checks again")
    except (ValueError, KeyError, IndexError, TypeError) as exc:
        return failed(rule.name, f"output the check cannot read ({type(exc).__name__}: {exc})",
                      "the usual output of the commands", "run the rule's commands by hand on "
                      "the host and report the output with this message")


@dataclass
class Plan:
    """Everything needed to check one inventory: settings, group names and connections."""

    inventory: Inventory
    settings: Mapping[str, Any]
    groups: Mapping[str, Any] = field(default_factory=load_groups)
    kube_version: str = field(default_factory=load_kube_version)
    controlpersist: int = 60
    _runners: dict[str, HostRunner] = field(default_factory=dict)

    def rules(self, phase: str) -> list[Rule]:
        if phase == "preflight":
            return preflight_rules(self.settings)
        if phase == "postflight":
            return postflight_rules(self.settings)
        raise ValueError(f"unknown phase {phase!r}: use one of {', '.join(PHASES)}")

    def runner(self, address: str, sudo: bool = False) -> HostRunner:
        key = f"{address}|{sudo}"
        if key not in self._runners:
            host = connect(address, sudo=sudo, ssh_config=self.inventory.ssh_config,
                           ssh_identity_file=self.inventory.ssh_identity_file,
                           controlpersist=self.controlpersist)
            self._runners[key] = HostRunner(host, address)
        return self._runners[key]

    def context(self, node: NodeSpec) -> Context:
        return Context(group=node.group, role=node.role, settings=self.settings,
                       group_spec=self.groups[node.group], all_groups=self.groups,
                       rancher_url=self.inventory.rancher_url, node_name=node.node_name,
                       kubectl=node.kubectl, kube_version=self.kube_version)

    def runners(self, node: NodeSpec) -> Runners:
        run = self.runner(node.address, node.sudo)
        if node.kubectl_host:
            cluster: Callable[[str], Output] = self.runner(node.kubectl_host, node.sudo)
        elif node.role == "server":
            cluster = run
        else:
            server = next((n for n in self.inventory.nodes
                           if n.group == node.group and n.role == "server"), None)
            cluster = (self.runner(server.address, server.sudo) if server else no_cluster_runner(
                "no server in the inventory to run kubectl on for this agent"))
        return Runners(node=run, cluster=cluster)

    def check_node(self, node: NodeSpec, phase: str) -> list[Finding]:
        """All findings of one phase on one node; an unreachable host gets one failure, the
        rest skipped."""
        runners = self.runners(node)
        first = check_reachable(node, runners.node)
        if first.status != "pass":
            return [first] + [skipped(r.name, f"{node.name} unreachable")
                              for r in self.rules(phase)]
        ctx = self.context(node)
        return [first] + [run_rule(rule, runners, ctx) for rule in self.rules(phase)]


def findings_json(results: Iterable[tuple[NodeSpec, str, Finding]]) -> str:
    """The machine-readable report (test-artifacts/nodes-<group>-<phase>.json)."""
    return json.dumps([{"host": n.name, "address": n.address, "group": n.group, "role": n.role,
                        "phase": phase, "check": f.check, "status": f.status, "message": f.message}
                       for n, phase, f in results], indent=2)
