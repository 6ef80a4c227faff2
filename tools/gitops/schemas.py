"""`make schemas`: each chart's values.schema.json takes the definitions it shares with the other
charts from one source, apps/lib/schema/definitions.json.

A bundle cannot reach a file outside its folder, and Helm resolves a schema's `$ref` only inside
that schema, so the shared definitions are copied into each chart's `definitions` (generated,
committed, and compared by tests/gitops). The generator also sets the two properties every chart
has: `group`, an enum of the cluster groups in apps/lib/values.yaml, and `facefleet-lib`, the key
under which Helm merges the library chart's values (validated by the library's own schema).
"""

from __future__ import annotations

import argparse
import difflib
import json
import sys
from pathlib import Path
from typing import Any

from .layout import BUNDLES, ROOT, groups_file

SHARED = Path("apps") / "lib" / "schema" / "definitions.json"
LIBRARY_KEY = "facefleet-lib"


def chart_dirs(root: Path = ROOT) -> list[Path]:
    """Every chart that a bundle deploys (base/ for the root bundle)."""
    return [root / ("base" if folder == "." else folder) for folder in BUNDLES.values()]


def shared_definitions(root: Path = ROOT) -> dict[str, dict[str, Any]]:
    """The shared definitions, plus `group` from the groups file."""
    source = json.loads((root / SHARED).read_text())
    definitions = dict(source["definitions"])
    definitions["group"] = {
        "type": "string",
        "enum": list(groups_file(root)["groups"]),
        "description": "the cluster group (apps/lib/values.yaml), which places the pods",
    }
    return definitions


def generate(schema: dict[str, Any], shared: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """schema with every shared definition it references replaced by the source's, and the
    `group` and `facefleet-lib` properties set."""
    out = dict(schema)
    properties = dict(out.get("properties") or {})
    properties["group"] = {"$ref": "#/definitions/group"}
    properties[LIBRARY_KEY] = {"type": "object", "description": "the library chart's values (its schema checks them)"}
    out["properties"] = properties
    required = list(out.get("required") or [])
    if "group" not in required:
        required.append("group")
    out["required"] = required
    definitions = {k: v for k, v in (out.get("definitions") or {}).items() if k not in shared}
    # Referenced directly or through another shared definition (resources -> quantityPair).
    wanted: set[str] = set()
    text = json.dumps(out)
    while True:
        found = {n for n in shared if f'"#/definitions/{n}"' in text} - wanted
        if not found:
            break
        wanted |= found
        text += json.dumps([shared[n] for n in found])
    definitions.update({n: shared[n] for n in shared if n in wanted})
    out["definitions"] = definitions
    return out


def render(schema: dict[str, Any]) -> str:
    return json.dumps(schema, indent=2) + "\n"


def expected(root: Path = ROOT) -> dict[Path, str]:
    """Chart schema path -> the text `make schemas` writes there."""
    shared = shared_definitions(root)
    result = {}
    for chart in chart_dirs(root):
        path = chart / "values.schema.json"
        try:
            schema = json.loads(path.read_text())
        except json.JSONDecodeError as err:
            raise ValueError(f"{path}: not valid JSON ({err})") from err
        result[path] = render(generate(schema, shared))
    return result


def differences(root: Path = ROOT) -> list[str]:
    """Unified diffs between the committed schemas and the generated ones (empty: in sync)."""
    diffs = []
    for path, text in expected(root).items():
        current = path.read_text()
        if current != text:
            rel = path.relative_to(root).as_posix()
            diffs.append(
                "".join(
                    difflib.unified_diff(
                        current.splitlines(keepends=True),
                        text.splitlines(keepends=True),
                        f"{rel} (committed)",
                        f"{rel} (generated)",
                    )
                )
            )
    return diffs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--check", action="store_true", help="only report differences (exit 1 if any)")
    args = parser.parse_args()
    if args.check:
        diffs = differences()
        sys.stdout.write("".join(diffs))
        sys.exit(1 if diffs else 0)
    for path, text in expected().items():
        if path.read_text() != text:
            path.write_text(text)
            print(f"wrote {path.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
