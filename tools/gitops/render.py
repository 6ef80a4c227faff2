"""`make render`: every bundle rendered by Fleet for every cluster group into rendered/<group>/."""

from __future__ import annotations

import argparse
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

import yaml

from .engines import fleet_apply, fleet_deploy_dry_run, fleet_target
from .fakeapi import Store, serve
from .layout import BUNDLES, CACHE, ROOT, Target, kube_version, targets
from .tree import export_worktree

REPO_NAME = "facefleet"
FLEET_GROUP_VERSION = "fleet.cattle.io/v1alpha1"
ENGINES = "`fleet target` + `fleet deploy --dry-run`"


@dataclass
class Rendering:
    """What one tree deploys: per target and bundle the objects (None: not deployed at all)."""

    tree: Path
    bundles: list[dict[str, Any]]
    objects: dict[str, dict[str, list[dict[str, Any]] | None]] = field(default_factory=dict)
    targets: dict[str, Target] = field(default_factory=dict)


def workspace(tree: Path) -> str:
    """The Fleet workspace (namespace) of the GitRepo, where its Clusters and ClusterGroups live."""
    gitrepo = yaml.safe_load((tree / "clusters" / "gitrepo.yaml").read_text())
    return str(gitrepo["metadata"]["namespace"])


def cluster_store(tree: Path, cluster_targets: list[Target]) -> Store:
    """What targeting reads on a management cluster: the committed ClusterGroups
    (clusters/clustergroups.yaml) and one registered Cluster per target, carrying its labels."""
    store = Store()
    namespace = workspace(tree)
    for group in yaml.safe_load_all((tree / "clusters" / "clustergroups.yaml").read_text()):
        if group:
            store.add(group)
    for target in cluster_targets:
        store.add(
            {
                "apiVersion": FLEET_GROUP_VERSION,
                "kind": "Cluster",
                "metadata": {"name": target.name, "namespace": namespace, "labels": dict(target.cluster_labels)},
                "status": {"namespace": f"cluster-{namespace}-{target.name}"},
            }
        )
    return store


def _target(
    by_label: dict[str, dict[str, Any]], namespace: str, kubeconfig: Path, workdir: Path, name: str
) -> tuple[dict[str, Any], dict[str, dict[str, Any]]]:
    return fleet_target(by_label[name], namespace, kubeconfig, workdir)


def render_tree(tree: Path, workers: int = 3, cluster_targets: list[Target] | None = None) -> Rendering:
    """Run `fleet apply` once, `fleet target` per Bundle and `fleet deploy --dry-run` per
    BundleDeployment, on an exported tree, for the tree's own targets or cluster_targets (`make
    plan` renders an older revision for the clusters of the working tree).

    A bundle whose folder has no fleet.yaml in this tree (an older revision) deploys nothing.
    """
    present = {n: f for n, f in BUNDLES.items() if (tree / f / "fleet.yaml").is_file()}
    bundles = fleet_apply(tree, REPO_NAME, ["."]) if present else []
    result = Rendering(tree, bundles)
    cluster_targets = cluster_targets if cluster_targets is not None else targets(tree)
    result.targets = {t.name: t for t in cluster_targets}
    for target in cluster_targets:
        result.objects[target.name] = dict.fromkeys(BUNDLES)
    if not bundles:
        return result
    by_label = {b["metadata"]["labels"]["facefleet.io/bundle"]: b for b in bundles}
    workdir = CACHE / "targeting" / tree.name
    workdir.mkdir(parents=True, exist_ok=True)
    namespace, version = workspace(tree), kube_version(tree)
    names = [name for name in present if name in by_label]
    jobs: list[tuple[str, str, dict[str, Any], dict[str, Any]]] = []
    with ThreadPoolExecutor(max_workers=workers) as pool:
        # Each target is targeted on a management cluster of its own (its Cluster alone): Fleet's
        # rollout holds back the BundleDeployments of a later partition while an earlier one has
        # more unavailable clusters than it allows, and a cluster targeted just now is unavailable
        # (never Ready here), so with two clusters in the cloud partition (the home and a replica)
        # the edge cluster would get nothing. What one cluster receives does not depend on the others.
        for target in cluster_targets:
            with serve(cluster_store(tree, [target]), workdir / f"kubeconfig-{target.name}.yaml") as kubeconfig:
                targeted = list(pool.map(partial(_target, by_label, namespace, kubeconfig, workdir), names))
            jobs += [
                (name, cluster, content, deployment)
                for name, (content, deployments) in zip(names, targeted, strict=True)
                for cluster, deployment in deployments.items()
            ]
        outputs = list(pool.map(lambda job: fleet_deploy_dry_run(job[2], job[3], workdir, version), jobs))
    for (name, cluster, _, _), objs in zip(jobs, outputs, strict=True):
        result.objects[cluster][name] = objs
    return result


def write(rendering: Rendering, out: Path) -> None:
    """rendered/<target>/<bundle>.yaml; an empty file (with a comment) when nothing is deployed."""
    for target_name, bundles in rendering.objects.items():
        folder = out / target_name
        folder.mkdir(parents=True, exist_ok=True)
        for stale in folder.glob("*.yaml"):
            stale.unlink()
        for name, objs in bundles.items():
            header = f"# bundle {name} for a cluster in group {target_name!r}, rendered by {ENGINES}\n"
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
