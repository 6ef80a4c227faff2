"""Plain data shared by the rules, the runner and the report: command outputs, findings, context."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

Status = Literal["pass", "fail", "skip"]


@dataclass(frozen=True)
class Output:
    """What one shell command answered on a host."""

    rc: int
    stdout: str = ""
    stderr: str = ""

    @property
    def ok(self) -> bool:
        return self.rc == 0

    def first_line(self) -> str:
        """The first non-empty line of stderr (else stdout): the short reason of a failure."""
        for text in (self.stderr, self.stdout):
            for line in text.splitlines():
                if line.strip():
                    return line.strip()
        return f"exit status {self.rc}"


@dataclass(frozen=True)
class Finding:
    """The verdict of one check on one host; ``message`` is one sentence."""

    check: str
    status: Status
    message: str


def passed(check: str, message: str) -> Finding:
    return Finding(check, "pass", message)


def skipped(check: str, message: str) -> Finding:
    return Finding(check, "skip", message)


def failed(check: str, found: str, expected: str, fix: str) -> Finding:
    """A failure in the one-sentence form every check uses: found, expected, how to fix."""
    return Finding(check, "fail", f"{check}: found {found}, expected {expected}; fix: {fix}.")


@dataclass(frozen=True)
class Context:
    """Everything a rule may depend on besides command outputs."""

    group: str  # edge | cloud (a key of apps/lib/values.yaml)
    role: str  # server | agent
    settings: Mapping[str, Any]  # merged thresholds.yaml
    group_spec: Mapping[str, Any]  # apps/lib/values.yaml entry of the group
    all_groups: Mapping[str, Any] = field(default_factory=dict)  # every apps/lib/values.yaml entry
    rancher_url: str | None = None
    node_name: str | None = None  # defaults to the host's hostname
    kubectl: str | None = None  # defaults to settings.postflight.kubectl
    kube_version: str = "1.31"  # apps/lib/values.yaml kubernetes.version

    @property
    def limits(self) -> Mapping[str, Any]:
        return self.settings["groups"][self.group]


Run = Callable[[str], Output]
"""Runs one shell command on the host under check."""
