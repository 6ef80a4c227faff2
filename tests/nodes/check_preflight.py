"""Preflight node checks, run by `make check-nodes` only (not collected by `make test`)."""

from tools.nodecheck.model import Finding
from tools.nodecheck.plugin import assert_finding

PHASE = "preflight"


def test_preflight(node_check: Finding) -> None:
    assert_finding(node_check)
