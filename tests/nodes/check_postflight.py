"""Postflight node checks, run by `make check-nodes PHASE=postflight` only (not by `make test`)."""

from tools.nodecheck.model import Finding
from tools.nodecheck.plugin import assert_finding

PHASE = "postflight"


def test_postflight(node_check: Finding) -> None:
    assert_finding(node_check)
