"""What a rule is, and small helpers the preflight and postflight rules share."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from .model import Context, Finding, Output, Run, failed


@dataclass(frozen=True)
class Runners:
    """Where a rule's commands run: the node itself, and the host that has kubectl for it."""

    node: Run
    cluster: Run


Gather = Callable[[Runners, Context], dict[str, Output]]
Evaluate = Callable[[Mapping[str, Output], Context], Finding]


@dataclass(frozen=True)
class Rule:
    """A check: ``gather`` runs commands (the only impure part), ``evaluate`` judges their output."""

    name: str
    gather: Gather
    evaluate: Evaluate

    def check(self, runners: Runners, ctx: Context) -> Finding:
        return self.evaluate(self.gather(runners, ctx), ctx)


def on_node(**commands: str) -> Gather:
    """A gather step that runs fixed commands on the node."""

    def gather(r: Runners, ctx: Context) -> dict[str, Output]:
        return {key: r.node(cmd) for key, cmd in commands.items()}

    return gather


def version_tuple(text: str) -> tuple[int, ...]:
    """'6.18.44-fc-v769' -> (6, 18, 44); '22.04' -> (22, 4); '' -> ()."""
    match = re.match(r"\s*v?(\d+(?:\.\d+)*)", text or "")
    return tuple(int(p) for p in match.group(1).split(".")) if match else ()


def problems_to_finding(check: str, problems: list[tuple[str, str, str]]) -> Finding:
    """Several (found, expected, fix) problems of one check folded into one sentence."""
    found = " and ".join(p[0] for p in problems)
    expected = " and ".join(dict.fromkeys(p[1] for p in problems))
    fix = " and ".join(dict.fromkeys(p[2] for p in problems))
    return failed(check, found, expected, fix)
