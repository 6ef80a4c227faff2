"""`make render`: every bundle rendered by Fleet for every cluster group into rendered/<group>/."""
from __future__ import annotations

import argparse
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from .engines import fleet_apply, fleet_test
from .layout import BUNDLES, CACHE, ROOT, Target, targets
from .tree import export_worktree

REPO_NAME = "facefleet"


@dataclass
class Rendering:
    """What one tree deploys: per target and bundle the objects (None: not deployed at all)."""

    tree: Path
    bundles: list[dict]
    objects: dict[str, dict[str, list[dict] | None]] = field(default_factory=dict)


def render_tree(tree: Path, workers: int = 3) -> Rendering:
    """Run `fleet apply` once and `fleet test` for each bundle and target, on an exported tree.

    A bundle whose folder has no fleet.yaml in this tree (an older revision) deploys nothing.
    """
    present = {n: f for n, f in BUNDLES.items() if (tree / f / "fleet.yaml").is_file()}
    result = Rendering(tree, fleet_apply(tree, REPO_NAME, ["."]) if present else [])
    jobs = [(t, name, folder) for t in targets(tree) for name, folder in present.items()]
    with ThreadPoolExecutor(max_workers=workers) as pool:
        outputs = list(pool.map(lambda job: fleet_test(tree, job[2], job[0]), jobs))
    for target in targets(tree):
        result.objects[target.name] = {name: None for name in BUNDLES}
    for (target, name, _), objs in zip(jobs, outputs):
        result.objects[target.name][name] = objs
    return result


def write(rendering: Rendering, out: Path) -> None:
    """rendered/<target>/<bundle>.yaml; an empty file (with a comment) when nothing is deployed."""
    for target_name, bundles in rendering.objects.items():
        folder = out / target_name
        folder.mkdir(parents=True, exist_ok=True)
        for stale in folder.glob("*.yaml"):
            stale.unlink()
        for name, objs in bundles.items():
            header = f"# bundle {name} for a cluster in group {target_name!r}, rendered by `fleet test`\n"
            if objs is None:
                body = "# no target matches: Fleet deploys nothing of this bundle here\n"
            else:
                body = yaml.safe_dump_all(objs, sort_keys=False, explicit_start=True)
            (folder / f"{name}.yaml").write_text(header + body)


def render_worktree(out: Path | None = None) -> Rendering:
    """Export the working tree, render it and (optionally) write the files."""
    tree = export_worktree(CACHE / "tree-worktree")
    rendering = render_tree(tree)
    if out is not None:
        write(rendering, out)
    return rendering


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", type=Path, default=ROOT / "rendered")
    args = parser.parse_args()
    rendering = render_worktree(args.out)
    for target_name, bundles in rendering.objects.items():
        counts = ", ".join(f"{n}={len(o) if o is not None else '-'}" for n, o in bundles.items())
        print(f"{target_name:6s} {counts}")
    print(f"wrote {args.out}/{{{','.join(rendering.objects)}}}/<bundle>.yaml")


if __name__ == "__main__":
    main()
