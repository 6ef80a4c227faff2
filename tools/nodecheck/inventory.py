"""The operator's inventory: which hosts, in which group and role, reached how.

File format (YAML)::

    rancher_url: https://rancher.example.com      # optional: enables the reachability check
    groups:
      edge:
        hosts:
          - name: line-3-pi                       # optional, defaults to the address
            address: ssh://pi@10.0.3.21           # or local://, ssh://user@host:port
            role: server                          # server (default) | agent
            node_name: line-3-pi                  # optional, defaults to the host's hostname
            sudo: true                            # optional: run commands through sudo
          - ssh://pi@10.0.3.22                    # shorthand: just an address (role server)
    ssh_config: ~/.ssh/config                     # optional, for every ssh:// host
    ssh_identity_file: ~/.ssh/id_ed25519          # optional
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

ROLES = ("server", "agent")


@dataclass(frozen=True)
class NodeSpec:
    """One host to check."""

    name: str
    address: str
    group: str
    role: str = "server"
    node_name: str | None = None
    sudo: bool = False
    kubectl_host: str | None = None  # address of the host that runs kubectl for this node
    kubectl: str | None = None


@dataclass(frozen=True)
class Inventory:
    nodes: tuple[NodeSpec, ...]
    rancher_url: str | None = None
    ssh_config: str | None = None
    ssh_identity_file: str | None = None


class InventoryError(ValueError):
    """The inventory or the HOSTS list cannot be used; the message says why."""


def _node(entry: Any, group: str, known_groups: Iterable[str]) -> NodeSpec:
    if group not in known_groups:
        known = ", ".join(sorted(known_groups))
        raise InventoryError(f"group {group!r} is not in apps/lib/values.yaml (known: {known})")
    if isinstance(entry, str):
        entry = {"address": entry}
    if not isinstance(entry, Mapping) or not entry.get("address"):
        raise InventoryError(f"group {group}: every host needs an 'address' (got {entry!r})")
    address = str(entry["address"])
    if "://" not in address:
        raise InventoryError(f"host {address!r}: write the address as ssh://user@host[:port] or local://")
    role = str(entry.get("role", "server"))
    if role not in ROLES:
        raise InventoryError(f"host {address}: role must be server or agent, not {role!r}")
    return NodeSpec(
        name=str(entry.get("name") or address),
        address=address,
        group=group,
        role=role,
        node_name=entry.get("node_name"),
        sudo=bool(entry.get("sudo", False)),
        kubectl_host=entry.get("kubectl_host"),
        kubectl=entry.get("kubectl"),
    )


def _expand(path: Any) -> str | None:
    return os.path.expanduser(str(path)) if path else None


def parse_inventory(data: Mapping[str, Any], known_groups: Iterable[str], only_group: str | None = None) -> Inventory:
    """Validate a loaded inventory mapping; keep only ``only_group`` when given."""
    known = list(known_groups)
    groups = data.get("groups")
    if not isinstance(groups, Mapping) or not groups:
        raise InventoryError("the inventory needs a 'groups' mapping with at least one group")
    nodes: list[NodeSpec] = []
    for group, body in groups.items():
        if only_group and group != only_group:
            continue
        hosts = (body or {}).get("hosts") or []
        nodes.extend(_node(entry, str(group), known) for entry in hosts)
    if not nodes:
        raise InventoryError(f"no hosts for group {only_group!r} in the inventory")
    return Inventory(
        nodes=tuple(nodes),
        rancher_url=data.get("rancher_url"),
        ssh_config=_expand(data.get("ssh_config")),
        ssh_identity_file=_expand(data.get("ssh_identity_file")),
    )


def from_hosts(hosts: str, group: str, known_groups: Iterable[str], role: str = "server") -> Inventory:
    """``HOSTS=ssh://a,ssh://b`` (comma or space separated) for one group and role."""
    entries = [h for h in hosts.replace(",", " ").split() if h]
    if not entries:
        raise InventoryError("HOSTS is empty: give ssh://user@host or local:// addresses")
    return Inventory(nodes=tuple(_node({"address": a, "role": role}, group, known_groups) for a in entries))
