"""Inventory and threshold loading: the operator's files are validated with clear messages,
overrides merge over thresholds.yaml, and group names come from apps/lib/values.yaml only."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from tools.nodecheck.config import deep_merge, load_groups, load_kube_version, load_thresholds, load_yaml
from tools.nodecheck.inventory import InventoryError, from_hosts, parse_inventory

GROUPS = ["edge", "cloud"]

NODES_DIR = Path(__file__).resolve().parent


def test_example_inventory_parses():
    inv = parse_inventory(load_yaml(NODES_DIR / "inventory.example.yaml"), GROUPS)
    assert [(n.name, n.group, n.role) for n in inv.nodes] == [
        ("line-3-pi", "edge", "server"),
        ("line-3-pi-b", "edge", "agent"),
        ("ssh://ubuntu@10.20.0.11", "cloud", "server"),
        ("cloud-worker-2", "cloud", "agent"),
    ]
    assert inv.nodes[0].sudo and inv.nodes[1].node_name == "line-3-pi-b"
    assert inv.nodes[3].kubectl_host == "ssh://ubuntu@10.20.0.11"
    only = parse_inventory(load_yaml(NODES_DIR / "inventory.example.yaml"), GROUPS, "cloud")
    assert {n.group for n in only.nodes} == {"cloud"}


@pytest.mark.parametrize(
    "data, message",
    [
        ({}, "the inventory needs a 'groups' mapping"),
        ({"groups": {"moon": {"hosts": ["local://"]}}}, "group 'moon' is not in apps/lib/values.yaml"),
        ({"groups": {"edge": {"hosts": [{"name": "x"}]}}}, "every host needs an 'address'"),
        ({"groups": {"edge": {"hosts": ["pi@10.0.0.5"]}}}, "write the address as ssh://user@host"),
        (
            {"groups": {"edge": {"hosts": [{"address": "local://", "role": "worker"}]}}},
            "role must be server or agent, not 'worker'",
        ),
        ({"groups": {"edge": {"hosts": []}}}, "no hosts for group None"),
    ],
)
def test_bad_inventories_say_why(data, message):
    with pytest.raises(InventoryError, match=re.escape(message)):
        parse_inventory(data, GROUPS)


def test_hosts_list():
    inv = from_hosts("ssh://pi@10.0.3.21, ssh://pi@10.0.3.22 local://", "edge", GROUPS, "agent")
    assert [n.address for n in inv.nodes] == ["ssh://pi@10.0.3.21", "ssh://pi@10.0.3.22", "local://"]
    assert {n.role for n in inv.nodes} == {"agent"}
    with pytest.raises(InventoryError, match="HOSTS is empty"):
        from_hosts(" , ", "edge", GROUPS)


def test_thresholds_override_file_merges(tmp_path):
    override = tmp_path / "mine.yaml"
    override.write_text(yaml.safe_dump({"groups": {"edge": {"min_cpus": 4}}, "kernel_modules": ["overlay"]}))
    merged = load_thresholds(override)
    assert merged["groups"]["edge"]["min_cpus"] == 4
    default = load_thresholds()["groups"]["edge"]
    assert merged["groups"]["edge"]["min_memory_mib"] == default["min_memory_mib"]
    assert merged["kernel_modules"] == ["overlay"]  # lists are replaced
    assert deep_merge({"a": {"b": 1, "c": 2}}, {"a": {"c": 3}}) == {"a": {"b": 1, "c": 3}}


def test_every_group_of_apps_groups_yaml_has_thresholds():
    """A group added to apps/lib/values.yaml without minimums here would break the checks."""
    assert set(load_groups()) == set(load_thresholds()["groups"])
    assert re.fullmatch(r"\d+\.\d+", load_kube_version())
