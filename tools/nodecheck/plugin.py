"""pytest plugin behind `make check-nodes`: one test per (host, check), a per-host report, JUnit.

Loaded only by `make check-nodes` (``-p tools.nodecheck.plugin``), so `make test` never collects the node
checks (tests/nodes/check_*.py do not match pytest's test_*.py pattern either).
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import asdict
from pathlib import Path
from typing import Any

import pytest

from .config import load_groups, load_thresholds, load_yaml
from .inventory import Inventory, InventoryError, NodeSpec, from_hosts, parse_inventory
from .model import Finding
from .runner import PHASES, Plan, findings_json

PLAN = pytest.StashKey[Plan]()
RESULTS = pytest.StashKey[dict]()


def pytest_addoption(parser: pytest.Parser) -> None:
    g = parser.getgroup("nodecheck", "facefleet node checks (make check-nodes)")
    g.addoption("--nodes-inventory", help="inventory YAML (see tests/nodes/inventory.example.yaml)")
    g.addoption("--nodes-hosts", help="comma/space separated addresses: ssh://user@host, local://")
    g.addoption("--nodes-group", help="group of apps/lib/values.yaml (required with --nodes-hosts)")
    g.addoption(
        "--nodes-role", default="server", choices=("server", "agent"), help="k3s role of --nodes-hosts (default server)"
    )
    g.addoption("--nodes-thresholds", help="YAML merged over tools/nodecheck/thresholds.yaml")
    g.addoption("--nodes-rancher-url", help="Rancher server URL: enables the reachability check")
    g.addoption("--nodes-ssh-config", help="ssh_config file for ssh:// hosts")
    g.addoption("--nodes-ssh-identity-file", help="private key for ssh:// hosts")
    g.addoption("--nodes-report", help="also write the findings as JSON to this file")
    g.addoption(
        "--nodes-record",
        help="save every command's output per host and phase in this folder (replayable: new fixtures, bug reports)",
    )


def _inventory(config: pytest.Config, known: list[str]) -> Inventory:
    opt = config.getoption
    group = opt("--nodes-group") or None
    if opt("--nodes-inventory"):
        inv = parse_inventory(load_yaml(opt("--nodes-inventory")), known, only_group=group)
    elif opt("--nodes-hosts"):
        if not group:
            raise InventoryError("GROUP is required with HOSTS (one of: " + ", ".join(known) + ")")
        inv = from_hosts(opt("--nodes-hosts"), group, known, role=opt("--nodes-role"))
    else:
        raise InventoryError("nothing to check: give HOSTS=... GROUP=... or INVENTORY=file")
    return Inventory(
        nodes=inv.nodes,
        rancher_url=opt("--nodes-rancher-url") or inv.rancher_url,
        ssh_config=opt("--nodes-ssh-config") or inv.ssh_config,
        ssh_identity_file=opt("--nodes-ssh-identity-file") or inv.ssh_identity_file,
    )


def pytest_configure(config: pytest.Config) -> None:
    try:
        groups = load_groups()
        inventory = _inventory(config, list(groups))
        settings = load_thresholds(config.getoption("--nodes-thresholds"))
    except (InventoryError, OSError, ValueError) as exc:
        raise pytest.UsageError(f"node checks: {exc}") from None
    config.stash[PLAN] = Plan(inventory, settings, groups=groups)
    config.stash[RESULTS] = {}


def _phase(metafunc: pytest.Metafunc) -> str:
    phase = getattr(metafunc.module, "PHASE", None)
    if phase not in PHASES:
        raise pytest.UsageError(f"{metafunc.module.__name__} must set PHASE to one of {PHASES}")
    return phase


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "node_check" not in metafunc.fixturenames:
        return
    plan, phase = metafunc.config.stash[PLAN], _phase(metafunc)
    names = ["reachable"] + [rule.name for rule in plan.rules(phase)]
    cases = [(node, phase, name) for node in plan.inventory.nodes for name in names]
    metafunc.parametrize("node_check", cases, ids=[f"{n.name}::{c}" for n, _, c in cases], indirect=True)


def _findings(config: pytest.Config, node: NodeSpec, phase: str) -> dict[str, Finding]:
    results: dict[tuple[NodeSpec, str], dict[str, Finding]] = config.stash[RESULTS]
    if (node, phase) not in results:
        plan = config.stash[PLAN]
        found = plan.check_node(node, phase)
        results[(node, phase)] = {f.check: f for f in found}
        folder = config.getoption("--nodes-record")
        if folder:
            name = re.sub(r"[^A-Za-z0-9._-]+", "_", node.name).strip("_") or "host"
            path = Path(folder) / f"{name}-{phase}.json"
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(json.dumps({"node": asdict(node), "phase": phase, **plan.recording(node)}, indent=2) + "\n")
    return results[(node, phase)]


@pytest.fixture
def node_check(request: pytest.FixtureRequest) -> Finding:
    """The finding of one check on one host (each host is checked once, then cached)."""
    node, phase, name = request.param
    return _findings(request.config, node, phase)[name]


def assert_finding(finding: Finding) -> None:
    """Turn a finding into the test outcome: its one sentence, never a traceback."""
    if finding.status == "fail":
        pytest.fail(finding.message, pytrace=False)
    if finding.status == "skip":
        pytest.skip(finding.message)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo) -> Any:
    """A failed check's report (and its JUnit message) is its one sentence, nothing else."""
    outcome = yield
    report = outcome.get_result()
    finding = getattr(item, "funcargs", {}).get("node_check")
    if report.when == "call" and report.failed and isinstance(finding, Finding):
        report.longrepr = finding.message


MARK = {"pass": "PASS", "fail": "FAIL", "skip": "SKIP"}


def pytest_terminal_summary(terminalreporter: Any, exitstatus: int, config: pytest.Config) -> None:
    tr = terminalreporter
    for rep in tr.stats.get("error", []):  # a bug in the checks themselves: show it whole
        tr.write_sep("-", f"internal error in {rep.nodeid}")
        tr.write_line(rep.longreprtext)
    results: dict[tuple[NodeSpec, str], dict[str, Finding]] = config.stash.get(RESULTS, {})
    if not results:
        return
    flat = []
    for (node, phase), findings in results.items():
        counts = {s: sum(f.status == s for f in findings.values()) for s in MARK}
        verdict = (
            "UNREACHABLE"
            if findings["reachable"].status == "fail"
            else (
                "FIT"
                if not counts["fail"] and phase == "preflight"
                else "OK"
                if not counts["fail"]
                else "NOT READY"
                if phase == "postflight"
                else "NOT FIT"
            )
        )
        where = node.name if node.name == node.address else f"{node.name} ({node.address})"
        tr.write_sep("=", f"{phase} {where}, group {node.group}, {node.role}: {verdict}")
        tr.write_line(f"  {counts['pass']} passed, {counts['fail']} failed, {counts['skip']} skipped")
        for f in findings.values():
            flat.append((node, phase, f))
            if verdict == "UNREACHABLE" and f.check != "reachable":
                continue  # one clear line for an unreachable host, not fifteen skips
            tr.write_line(f"  {MARK[f.status]}  {f.check:<20} {f.message}")
    report = config.getoption("--nodes-report")
    if report:
        Path(report).parent.mkdir(parents=True, exist_ok=True)
        Path(report).write_text(findings_json(flat) + os.linesep, encoding="utf-8")
        tr.write_line(f"findings written to {report}")
