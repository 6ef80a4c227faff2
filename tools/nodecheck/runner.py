"""The thin testinfra layer: reach a host, run the rules' commands there, never crash on it."""

from __future__ import annotations

import base64
import contextlib
import json
import re
import secrets
import shlex
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

import testinfra

from .config import load_groups, load_kube_version
from .inventory import Inventory, NodeSpec
from .model import Context, Finding, Output, failed, passed, skipped
from .postflight import node_name, postflight_rules
from .preflight import preflight_rules
from .rules import Rule, Runners

PHASES = ("preflight", "postflight")


class Unreachable(Exception):
    """The host (or the connection to it) is gone; the message is ssh's own reason."""

    def __init__(self, reason: str, label: str = "the host"):
        super().__init__(reason)
        self.label = label


def _reason(exc: BaseException) -> str:
    """ssh's last words from testinfra's RuntimeError(CommandResult), else the exception text."""
    result = exc.args[0] if exc.args else None
    stderr = getattr(result, "stderr", None)
    if isinstance(stderr, str) and stderr.strip():
        lines = [ln for ln in stderr.strip().splitlines() if ln.strip()]
        return lines[-1].strip()
    return str(exc).strip().splitlines()[-1] if str(exc).strip() else type(exc).__name__


def batch_script(commands: list[str], token: str) -> str:
    """One shell script running every command in its own ``sh -c``, printing per command a
    marker line with its exit status and base64 stdout/stderr: one round trip instead of dozens."""
    parts = ["t=$(mktemp -d) || exit 1"]
    for i, command in enumerate(commands):
        parts.append(
            f'sh -c {shlex.quote(command)} >"$t/o" 2>"$t/e" </dev/null; r=$?; '
            f"printf '\\n{token} {i} %s ' \"$r\"; base64 <\"$t/o\" | tr -d '\\n'; printf ' '; "
            f"base64 <\"$t/e\" | tr -d '\\n'; printf ' {token}-end\\n'"
        )
    parts.append('rm -rf "$t"')
    return "\n".join(parts)


def parse_batch(stdout: str, count: int, token: str) -> list[Output] | None:
    """The outputs of ``batch_script``; None when any is missing (then commands run one by one)."""
    found: dict[int, Output] = {}
    pattern = re.compile(rf"^{token} (\d+) (\d+) (\S*) (\S*) {token}-end$", re.M)
    for m in pattern.finditer(stdout):
        out, err = (base64.b64decode(x).decode("utf-8", "replace") for x in m.group(3, 4))
        found[int(m.group(1))] = Output(int(m.group(2)), out, err)
    return [found[i] for i in range(count)] if len(found) == count else None


class Recorder:
    """Stands in for a host while rules are dry-run, to learn which commands they will need."""

    def __init__(self, known: HostRunner | None):
        self.known, self.commands = known, []

    def __call__(self, command: str) -> Output:
        cached = self.known.cached(command) if self.known else None
        if cached is None:
            self.commands.append(command)
        return cached or Output(0, "")


class HostRunner:
    """Runs shell commands on one testinfra host, caching each command's output for the run."""

    def __init__(self, host: Any, label: str):
        self.host, self.label = host, label
        self._cache: dict[str, Output] = {}

    def cached(self, command: str) -> Output | None:
        return self._cache.get(command)

    def recording(self) -> dict[str, dict[str, Any]]:
        """Every command run so far with its output (see ``replay``)."""
        return {c: {"rc": o.rc, "stdout": o.stdout, "stderr": o.stderr} for c, o in self._cache.items()}

    def prefetch(self, commands: Iterable[str]) -> None:
        """Run the commands not cached yet in one batch (one ssh round trip)."""
        todo = [c for c in dict.fromkeys(commands) if c not in self._cache]
        if len(todo) < 2:
            return
        token = f"nodecheck-{secrets.token_hex(8)}"
        try:
            result = self.host.run(batch_script(todo, token))
        except Exception as exc:
            raise Unreachable(_reason(exc), self.label) from exc
        outputs = parse_batch(result.stdout, len(todo), token)
        if outputs:
            self._cache.update(zip(todo, outputs, strict=False))  # a cut-off batch answers a prefix

    def __call__(self, command: str) -> Output:
        if command not in self._cache:
            try:
                # `sh -c`, as in a batch: the same shell (and wording) whatever the login shell
                result = self.host.run("sh -c %s", command)
            except Exception as exc:  # testinfra raises on ssh failure (exit 255), paramiko errors…
                raise Unreachable(_reason(exc), self.label) from exc
            self._cache[command] = Output(result.rc, result.stdout, result.stderr)
        return self._cache[command]


def replay(recorded: Mapping[str, Mapping[str, Any]]) -> Callable[[str], Output]:
    """A host that answers from a recording; a command it never saw is reported as such."""

    def run(command: str) -> Output:
        if command not in recorded:
            return Output(127, "", f"not in the recording: {command}")
        o = recorded[command]
        return Output(int(o["rc"]), o["stdout"], o["stderr"])

    return run


def connect(
    address: str,
    *,
    sudo: bool = False,
    ssh_config: str | None = None,
    ssh_identity_file: str | None = None,
    controlpersist: int = 0,
    timeout: int = 10,
) -> Any:
    """A testinfra host. ssh runs in batch mode, so a missing key fails instead of prompting."""
    kwargs: dict[str, Any] = {"sudo": sudo}
    if address.startswith("ssh://"):
        kwargs.update(
            ssh_config=ssh_config,
            ssh_identity_file=ssh_identity_file,
            controlpersist=controlpersist,
            timeout=timeout,
            ssh_extra_args="-o BatchMode=yes",
        )
    return testinfra.get_host(address, **kwargs)


def check_reachable(node: NodeSpec, run: Callable[[str], Output]) -> Finding:
    """The first check of every host: can we run a command there at all?"""
    try:
        out = run("echo nodecheck-ok")
    except Unreachable as exc:
        return failed(
            "reachable",
            f"no connection to {node.address} ({exc})",
            "a shell on the host",
            "check the address and port, that sshd runs there and that the inventory's user and key are authorised",
        )
    if out.stdout.strip() != "nodecheck-ok" and "sudo" in out.stderr:
        return failed(
            "reachable",
            f"{node.address} refusing sudo ({out.first_line()})",
            "commands to run through sudo without a password",
            "allow the user passwordless sudo (NOPASSWD) or log in as root",
        )
    if out.stdout.strip() != "nodecheck-ok":
        return failed(
            "reachable",
            f"{node.address} answering {out.first_line()!r} to `echo`",
            "a POSIX shell",
            "give the checks a login with a POSIX shell (sh, bash)",
        )
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
        return failed(
            rule.name,
            f"{exc.label} unreachable while checking ({exc})",
            "the connection to stay up",
            "check the network and run the checks again",
        )
    except (ValueError, KeyError, IndexError, TypeError) as exc:
        return failed(
            rule.name,
            f"output the check cannot read ({type(exc).__name__}: {exc})",
            "the usual output of the commands",
            "run the rule's commands by hand on the host and report the output with this message",
        )


@dataclass
class Plan:
    """Everything needed to check one inventory: settings, group names and connections."""

    inventory: Inventory
    settings: Mapping[str, Any]
    groups: Mapping[str, Any] = field(default_factory=load_groups)
    kube_version: str = field(default_factory=load_kube_version)
    controlpersist: int = 0  # no ssh master left behind; batching keeps round trips few
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
            host = connect(
                address,
                sudo=sudo,
                ssh_config=self.inventory.ssh_config,
                ssh_identity_file=self.inventory.ssh_identity_file,
                controlpersist=self.controlpersist,
            )
            self._runners[key] = HostRunner(host, address)
        return self._runners[key]

    def context(self, node: NodeSpec) -> Context:
        return Context(
            group=node.group,
            role=node.role,
            settings=self.settings,
            group_spec=self.groups[node.group],
            all_groups=self.groups,
            rancher_url=self.inventory.rancher_url,
            node_name=node.node_name,
            kubectl=node.kubectl,
            kube_version=self.kube_version,
        )

    def runners(self, node: NodeSpec) -> Runners:
        run = self.runner(node.address, node.sudo)
        if node.kubectl_host:
            cluster: Callable[[str], Output] = self.runner(node.kubectl_host, node.sudo)
        elif node.role == "server":
            cluster = run
        else:
            server = next((n for n in self.inventory.nodes if n.group == node.group and n.role == "server"), None)
            cluster = (
                self.runner(server.address, server.sudo)
                if server
                else no_cluster_runner("no server in the inventory to run kubectl on for this agent")
            )
        return Runners(node=run, cluster=cluster)

    def recording(self, node: NodeSpec) -> dict[str, Any]:
        """What the node (and its kubectl host) answered: replayable with ``check_node``."""
        runners = self.runners(node)
        return {
            name: run.recording() if isinstance(run, HostRunner) else {}
            for name, run in (("node", runners.node), ("cluster", runners.cluster))
        }

    def check_node(self, node: NodeSpec, phase: str, recorded: Mapping[str, Any] | None = None) -> list[Finding]:
        """All findings of one phase on one node (from a recording when given); an unreachable
        host gets one failure, the rest skipped."""
        runners = (
            Runners(node=replay(recorded["node"]), cluster=replay(recorded["cluster"]))
            if recorded is not None
            else self.runners(node)
        )
        first = check_reachable(node, runners.node)
        if first.status != "pass":
            return [first] + [skipped(r.name, f"{node.name} unreachable") for r in self.rules(phase)]
        ctx = self.context(node)
        if phase == "postflight" and not ctx.node_name:
            with contextlib.suppress(Unreachable):  # each rule reports the lost connection itself
                ctx = replace(ctx, node_name=node_name(runners, ctx))
        self.prefetch(runners, ctx, self.rules(phase))
        return [first] + [run_rule(rule, runners, ctx) for rule in self.rules(phase)]

    @staticmethod
    def prefetch(runners: Runners, ctx: Context, rules: list[Rule]) -> None:
        """Dry-run the rules to learn their commands, then fetch them in batches; repeated
        because some commands depend on earlier answers (the node name, the pod list)."""
        for _ in range(3):
            hosts = [h if isinstance(h, HostRunner) else None for h in (runners.node, runners.cluster)]
            node_rec, cluster_rec = Recorder(hosts[0]), Recorder(hosts[1])
            for rule in rules:
                with contextlib.suppress(Exception):  # a dry run on empty answers may not parse: fine
                    rule.check(Runners(node=node_rec, cluster=cluster_rec), ctx)
            if not node_rec.commands and not cluster_rec.commands:
                return
            try:
                if hosts[0] is not None and hosts[0] is hosts[1]:
                    hosts[0].prefetch(node_rec.commands + cluster_rec.commands)
                    continue
                for host, rec in zip(hosts, (node_rec, cluster_rec), strict=True):
                    if host is not None:
                        host.prefetch(rec.commands)
            except Unreachable:
                return  # each rule then meets the lost connection and reports it


def findings_json(results: Iterable[tuple[NodeSpec, str, Finding]]) -> str:
    """The machine-readable report (test-artifacts/nodes-<group>-<phase>.json)."""
    return json.dumps(
        [
            {
                "host": n.name,
                "address": n.address,
                "group": n.group,
                "role": n.role,
                "phase": phase,
                "check": f.check,
                "status": f.status,
                "message": f.message,
            }
            for n, phase, f in results
        ],
        indent=2,
    )
