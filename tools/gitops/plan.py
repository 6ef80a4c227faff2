"""`make plan REV=<rev>`: per cluster group, what the working tree deploys compared with REV.

Both trees are rendered by Fleet's CLI (see render.py); the output lists, per group, the objects
added, removed and changed, with a unified diff of each change - "what this commit rolls out where".
"""

from __future__ import annotations

import argparse
import difflib
import sys

import yaml

from .layout import CACHE
from .render import Rendering, render_tree
from .tree import export_revision, export_worktree

# Fleet's bookkeeping, different for every render: not a change an operator cares about.
_NOISE_ANNOTATIONS = ("objectset.rio.cattle.io/id",)
_NOISE_LABELS = ("objectset.rio.cattle.io/hash",)


def _key(obj: dict) -> str:
    meta = obj.get("metadata", {})
    ns = meta.get("namespace", "")
    return f"{obj.get('kind')}/{ns + '/' if ns else ''}{meta.get('name')}"


def _clean(obj: dict) -> dict:
    meta = obj.get("metadata", {})
    for field, noise in (("annotations", _NOISE_ANNOTATIONS), ("labels", _NOISE_LABELS)):
        values = meta.get(field) or {}
        for key in noise:
            values.pop(key, None)
        if field in meta and not values:
            meta.pop(field)
    return obj


def _index(rendering: Rendering, group: str) -> dict[str, dict]:
    """bundle/object key -> object for one group (nothing for bundles that do not target it)."""
    index: dict[str, dict] = {}
    for bundle, objs in sorted(rendering.objects.get(group, {}).items()):
        for obj in objs or []:
            index[f"{bundle}: {_key(obj)}"] = _clean(obj)
    return index


def _diff_maps(before: dict[str, dict], after: dict[str, dict]) -> list[str]:
    """Added, removed and changed keys, each change with a short unified diff of its YAML."""
    lines = [f"+ added    {k}" for k in sorted(after.keys() - before.keys())]
    lines += [f"- removed  {k}" for k in sorted(before.keys() - after.keys())]
    for key in sorted(before.keys() & after.keys()):
        a = yaml.safe_dump(before[key], sort_keys=True).splitlines()
        b = yaml.safe_dump(after[key], sort_keys=True).splitlines()
        if a != b:
            lines.append(f"~ changed  {key}")
            lines += ["    " + line for line in difflib.unified_diff(a, b, "before", "after", n=2, lineterm="")]
    return lines


def diff_group(old: Rendering, new: Rendering, group: str) -> list[str]:
    """Readable lines describing what changes for clusters of one group."""
    return _diff_maps(_index(old, group), _index(new, group))


def _settings(rendering: Rendering) -> dict[str, dict]:
    """Each Bundle's spec without its files: rollout strategy, dependsOn, targets, options."""
    result = {}
    for bundle in rendering.bundles:
        spec = {k: v for k, v in bundle.get("spec", {}).items() if k != "resources"}
        labels = {k: v for k, v in bundle["metadata"].get("labels", {}).items() if k != "fleet.cattle.io/commit"}
        result[f"Bundle/{bundle['metadata']['name']}"] = {"labels": labels, "spec": spec}
    return result


def diff_settings(old: Rendering, new: Rendering) -> list[str]:
    """Changes to the Bundle objects themselves (fleet.yaml options), all groups alike."""
    return _diff_maps(_settings(old), _settings(new))


def plan(rev: str) -> str:
    """The whole report: one section per cluster group, each naming its role for fleet-wide users.

    REV is rendered for the working tree's clusters, so a cluster that only the working tree sets
    apart (the home, added with fleet-wide users) is compared with what REV gave that same cluster."""
    new = render_tree(export_worktree(CACHE / "tree-plan-worktree"))
    old = render_tree(export_revision(rev, CACHE / "tree-plan-rev"), cluster_targets=list(new.targets.values()))
    settings = diff_settings(old, new)
    out = [
        "== bundle settings (fleet.yaml: rollout, dependsOn, targets): "
        + (f"{sum(line[:1] in '+-~' for line in settings)} bundle(s) change" if settings else "no change")
    ]
    out += settings
    for group in new.objects:
        lines = diff_group(old, new, group)
        target = new.targets.get(group)
        role = f" ({target.describe()})" if target else ""
        title = f"== clusters in group {group!r}{role}: "
        out.append(title + (f"{sum(line[:1] in '+-~' for line in lines)} object(s) change" if lines else "no change"))
        out += lines
    return "\n".join(out) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("rev", help="git revision to compare the working tree with, e.g. HEAD~1 or main")
    args = parser.parse_args()
    sys.stdout.write(plan(args.rev))


if __name__ == "__main__":
    main()
