"""tests/nodes: the node checks (check_*.py, run by `make check-nodes` with -p tools.nodecheck.plugin)
and their proof (test_nodes_*.py, run by `make test`).

pytest's default python_files pattern (test_*.py) never matches check_*.py, so `make test` never
collects the node checks; the hooks below also ignore or skip them when the check-nodes plugin is
not loaded. The rules live in tools/nodecheck (the operator tool); this conftest holds the proof tests'
fixtures (recorded outputs, rule contexts, a throwaway sshd).
"""

import json
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import pytest


def pytest_ignore_collect(collection_path: Path, config) -> bool | None:
    """Belt and braces: skip check_*.py unless the check-nodes plugin is loaded."""
    is_check = collection_path.name.startswith("check_") and collection_path.suffix == ".py"
    if is_check and not config.pluginmanager.has_plugin("tools.nodecheck.plugin"):
        return True
    return None


def pytest_collection_modifyitems(config, items) -> None:
    """Named on the command line without the plugin, the node checks skip with a pointer."""
    if config.pluginmanager.has_plugin("tools.nodecheck.plugin"):
        return
    skip = pytest.mark.skip(reason="node checks run through `make check-nodes` (see tests/nodes/README.md)")
    for item in items:
        if item.path.name.startswith("check_") and item.path.parent == Path(__file__).resolve().parent:
            item.add_marker(skip)


# ---------------------------------------------------------------- helpers for the proof tests

FIXTURES = Path(__file__).resolve().parent / "fixtures"


@pytest.fixture
def fixture_text() -> Callable[[str], str]:
    """Text of a recorded command output under tests/nodes/fixtures/."""
    return lambda name: (FIXTURES / name).read_text(encoding="utf-8")


@pytest.fixture
def fixture_json() -> Callable[[str], Any]:
    return lambda name: json.loads((FIXTURES / name).read_text(encoding="utf-8"))


@pytest.fixture
def make_ctx() -> Callable[..., Any]:
    """A rule Context for a group, from the committed apps/lib/values.yaml and thresholds.yaml
    (``overrides`` deep-merged over the thresholds, as an operator's THRESHOLDS file would be)."""
    from tools.nodecheck.config import load_groups, load_kube_version, load_thresholds
    from tools.nodecheck.model import Context

    def make(
        group: str = "edge", role: str = "server", overrides: Mapping[str, Any] | None = None, **kw: Any
    ) -> Context:
        groups = load_groups()
        return Context(
            group=group,
            role=role,
            settings=load_thresholds(overrides=overrides),
            group_spec=groups[group],
            all_groups=groups,
            kube_version=load_kube_version(),
            **kw,
        )

    return make


@pytest.fixture(scope="session")
def sshd(tmp_path_factory):
    """A real sshd on a free 127.0.0.1 port, reached with a throwaway key (see throwaway_sshd)."""
    import throwaway_sshd

    try:
        server = throwaway_sshd.start(tmp_path_factory.mktemp("sshd"))
    except FileNotFoundError as exc:  # the proof must not vanish silently: fail, say why
        pytest.fail(str(exc), pytrace=False)
    yield server
    server.stop()
