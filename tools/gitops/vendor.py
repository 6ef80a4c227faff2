"""`make vendor-lib`: every chart carries the library chart packaged in its charts/, committed.

Fleet would otherwise run `helm dependency update` in every GitRepo job. Helm packs the library
with the files' modification times, and a job's fresh clone gives every file a new one, so each
job would build a different `charts/facefleet-lib-*.tgz`: every bundle's files, and with them its
deployment ID, would change on every commit, and every bundle on every cluster would be upgraded
for a commit that touches one of them. So the package is built once, here, committed beside the
chart's Chart.lock, and the bundles set `disableDependencyUpdate`. A test (tests/gitops) holds each
package's files to apps/lib's; this command rebuilds only the packages that differ.
"""

from __future__ import annotations

import argparse
import io
import tarfile
from pathlib import Path

import yaml

from .engines import helm_dependency_build
from .layout import ROOT
from .schemas import chart_dirs

LIBRARY = Path("apps") / "lib"


def library_files(root: Path = ROOT) -> dict[str, bytes]:
    """The library's files as Helm packs them (relative paths), hidden files and charts/ left out."""
    lib = root / LIBRARY
    return {
        str(p.relative_to(lib)): p.read_bytes()
        for p in sorted(lib.rglob("*"))
        if p.is_file() and not any(part.startswith(".") for part in p.relative_to(lib).parts)
    }


def package_path(chart: Path, root: Path = ROOT) -> Path:
    meta = yaml.safe_load((root / LIBRARY / "Chart.yaml").read_text())
    return chart / "charts" / f"{meta['name']}-{meta['version']}.tgz"


def packaged_files(package: Path) -> dict[str, bytes]:
    """The files inside a packaged chart, paths relative to its top folder."""
    out: dict[str, bytes] = {}
    with tarfile.open(fileobj=io.BytesIO(package.read_bytes()), mode="r:gz") as tar:
        for member in tar.getmembers():
            if member.isfile():
                extracted = tar.extractfile(member)
                if extracted is not None:
                    out[member.name.split("/", 1)[1]] = extracted.read()
    return out


def differences(package: Path, root: Path = ROOT) -> list[str]:
    """Files in which a package differs from apps/lib (Chart.yaml by content: Helm rewrites it)."""
    want, have = library_files(root), packaged_files(package)
    differ = sorted(set(want) ^ set(have))
    for name in sorted(set(want) & set(have)):
        if name == "Chart.yaml":
            same = yaml.safe_load(want[name]) == yaml.safe_load(have[name])
        else:
            same = want[name] == have[name]
        if not same:
            differ.append(name)
    return differ


def stale(root: Path = ROOT) -> list[Path]:
    """Charts whose committed package is missing or differs from apps/lib."""
    return [
        chart
        for chart in chart_dirs(root)
        if not package_path(chart, root).is_file() or differences(package_path(chart, root), root)
    ]


def main() -> None:
    argparse.ArgumentParser(description=__doc__).parse_args()
    todo = stale()
    for chart in todo:
        for old in (chart / "charts").glob("*.tgz"):
            old.unlink()
        helm_dependency_build(chart)
        print(f"rebuilt {package_path(chart).relative_to(ROOT)}")
    if not todo:
        print("every chart's packaged library equals apps/lib")


if __name__ == "__main__":
    main()
