"""`make check-nodes` end to end, as an operator runs it: an inventory with this machine over
local:// and over ssh://, plus a host that is gone; the per-host report, the JUnit XML and the
JSON findings must agree, and the run must fail because of the unreachable host."""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
import yaml

pytestmark = pytest.mark.timeout(300)
ROOT = Path(__file__).resolve().parents[2]


def make(*args: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k not in ("MAKEFLAGS", "MAKELEVEL", "MFLAGS")}
    return subprocess.run(
        ["make", "-s", "--no-print-directory", *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=240
    )


def test_check_nodes_from_an_inventory(sshd, tmp_path):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        gone = s.getsockname()[1]
    inventory = tmp_path / "inventory.yaml"
    inventory.write_text(
        yaml.safe_dump(
            {
                "ssh_config": str(sshd.ssh_config),
                "ssh_identity_file": str(sshd.identity_file),
                "groups": {
                    "edge": {
                        "hosts": [
                            {"name": "here", "address": "local://"},
                            {"name": "over-ssh", "address": sshd.address, "role": "agent"},
                            {"name": "gone", "address": f"ssh://root@127.0.0.1:{gone}"},
                        ]
                    },
                    "cloud": {"hosts": ["local://"]},  # filtered out by GROUP=edge
                },
            }
        )
    )
    run = make("check-nodes", f"INVENTORY={inventory}", "GROUP=edge", f"NODES_OUT={tmp_path}")
    out = run.stdout
    assert run.returncode != 0, out
    # The per-host report: a verdict line per host, one clear line for the unreachable one.
    assert re.search(r"preflight here \(local://\), group edge, server: (FIT|NOT FIT)", out), out
    assert re.search(
        rf"preflight over-ssh \({re.escape(sshd.address)}\), group edge, agent: "
        r"(FIT|NOT FIT)",
        out,
    ), out
    assert f"preflight gone (ssh://root@127.0.0.1:{gone}), group edge, server: UNREACHABLE" in out
    assert (
        f"  FAIL  reachable            reachable: found no connection to "
        f"ssh://root@127.0.0.1:{gone} (ssh: connect to host 127.0.0.1 port {gone}: "
        "Connection refused)"
    ) in out
    assert "Traceback" not in out + run.stderr

    findings = json.loads((tmp_path / "nodes-edge-preflight.json").read_text())
    assert {f["host"] for f in findings} == {"here", "over-ssh", "gone"}
    by_key = {(f["host"], f["check"]): f for f in findings}
    assert by_key[("here", "reachable")]["status"] == "pass"
    assert by_key[("over-ssh", "reachable")]["status"] == "pass"
    assert {f["status"] for f in findings if f["host"] == "gone" and f["check"] != "reachable"} == {"skip"}
    # local and ssh agree on every verdict (the agent role only changes which ports matter)
    for check in ("os", "cgroup_v2", "ip_forward", "swap", "time_sync", "cpu_count", "hostname"):
        assert by_key[("here", check)]["status"] == by_key[("over-ssh", check)]["status"], check

    suite = ET.parse(tmp_path / "nodes-edge-preflight.xml").getroot().find("testsuite")
    assert suite.get("name") == "nodes-edge-preflight"
    cases = {re.search(r"\[(.*)\]", c.get("name")).group(1): c for c in suite.iter("testcase")}
    assert len(cases) == len(findings) == 3 * 16
    for f in findings:
        case = cases[f"{f['host']}::{f['check']}"]
        if f["status"] == "fail":
            assert case.find("failure").get("message") == f["message"]
        elif f["status"] == "skip":
            assert case.find("skipped") is not None
        else:
            assert len(case) == 0 or case.find("failure") is None and case.find("skipped") is None


def test_check_nodes_postflight_and_usage_errors(tmp_path):
    run = make(
        "check-nodes",
        "GROUP=cloud",
        "HOSTS=local://",
        "PHASE=postflight",
        f"NODES_OUT={tmp_path}",
        f"RECORD={tmp_path}/rec",
    )
    assert run.returncode != 0
    assert "postflight local://, group cloud, server: NOT READY" in run.stdout
    assert "  FAIL  k3s_config           k3s_config: found no readable /etc/rancher/k3s/config.yaml" in run.stdout
    assert (tmp_path / "nodes-cloud-postflight.xml").exists()
    recording = json.loads((tmp_path / "rec" / "local-postflight.json").read_text())
    assert recording["node"]["systemctl is-active k3s"]["rc"] != 0
    assert recording["phase"] == "postflight"

    run = make("check-nodes", f"NODES_OUT={tmp_path}")
    assert run.returncode != 0
    assert "node checks: nothing to check: give HOSTS=... GROUP=... or INVENTORY=file" in run.stderr
    run = make("check-nodes", "HOSTS=local://", "GROUP=moon", f"NODES_OUT={tmp_path}")
    assert "node checks: group 'moon' is not in apps/lib/values.yaml (known: cloud, edge)" in run.stderr
    run = make("check-nodes", "HOSTS=10.0.0.5", "GROUP=edge", f"NODES_OUT={tmp_path}")
    assert "write the address as ssh://user@host[:port] or local://" in run.stderr
