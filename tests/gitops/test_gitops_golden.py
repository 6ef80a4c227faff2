"""What every cluster group receives is committed under tests/golden/ (as rancher/fleet-examples
checks its rendered output in): any change to it shows in review and must be made on purpose."""

from __future__ import annotations

import difflib
from pathlib import Path

from gitops_paths import ROOT

from tools.gitops.render import write

GOLDEN = ROOT / "tests" / "golden"
HINT = "run `make render-golden` if this change is deliberate, and commit tests/golden/ with it"


def _files(folder: Path) -> dict[str, bytes]:
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*.yaml"))}


def _diff(name: str, golden: bytes | None, rendered: bytes | None) -> str:
    a = (golden or b"").decode().splitlines(keepends=True)
    b = (rendered or b"").decode().splitlines(keepends=True)
    return "".join(difflib.unified_diff(a, b, f"tests/golden/{name}", f"rendered/{name}"))


def test_rendering_equals_the_goldens_byte_for_byte(rendering, tmp_path):
    write(rendering, tmp_path)
    golden, rendered = _files(GOLDEN), _files(tmp_path)
    assert golden, f"tests/golden is empty: {HINT}"
    diffs = [
        _diff(name, golden.get(name), rendered.get(name))
        for name in sorted(golden.keys() | rendered.keys())
        if golden.get(name) != rendered.get(name)
    ]
    assert not diffs, f"the rendering differs from tests/golden ({HINT}):\n" + "\n".join(diffs)
