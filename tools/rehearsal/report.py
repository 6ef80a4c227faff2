"""The rehearsal report: per step its duration and, after it, what the Fleet dashboard shows;
written to test-artifacts/rehearsal/report.{json,md}."""

from __future__ import annotations

import json
import platform
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

from . import procs
from .layout import ROOT


@dataclass
class Report:
    steps: list[dict] = field(default_factory=list)
    meta: dict = field(default_factory=dict)
    peak_rss_kb: int = 0

    def sample_rss(self) -> None:
        self.peak_rss_kb = max(self.peak_rss_kb, procs.rss_kb())

    def add(self, step: str, seconds: float, dashboard: dict, **facts) -> None:
        self.sample_rss()
        self.steps.append({"step": step, "seconds": round(seconds, 1), "dashboard": dashboard, **facts})

    def write(self, folder: Path) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        rev = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True
        ).stdout.strip()
        self.meta |= {
            "git_revision": rev,
            "machine": platform.machine(),
            "cpus": _cpus(),
            "written_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "peak_rss_mb": round(self.peak_rss_kb / 1024),
        }
        (folder / "report.json").write_text(json.dumps({"meta": self.meta, "steps": self.steps}, indent=2))
        (folder / "report.md").write_text(self.markdown())

    def markdown(self) -> str:
        out = ["# Rollout rehearsal report", ""]
        out += [f"- {k}: {v}" for k, v in self.meta.items()]
        for step in self.steps:
            out += ["", f"## {step['step']} ({step['seconds']} s)", ""]
            for key, value in step.items():
                if key not in ("step", "seconds", "dashboard"):
                    out.append(f"- {key}: {value}")
            board = step["dashboard"]
            repo = board.get("gitrepo", {})
            out += [
                "",
                f"GitRepo `{repo.get('name')}` at `{(repo.get('commit') or '-')[:12]}`: "
                f"{repo.get('readyClusters')}/{repo.get('desiredReadyClusters')} clusters ready",
                "",
                "| bundle | commit | state | edge ready/targeted | cloud ready/targeted |",
                "|---|---|---|---|---|",
            ]
            for name, bundle in board.get("bundles", {}).items():
                cells = []
                for group in ("edge", "cloud"):
                    g = bundle["groups"].get(group)
                    cells.append(
                        f"{g['ready']}/{g['targeted']} ({', '.join(f'{c}: {s}' for c, s in g['clusters'].items())})"
                        if g
                        else "-"
                    )
                out.append(
                    f"| {name} | `{(bundle.get('commit') or '-')[:12]}` | {bundle.get('state')} | "
                    + " | ".join(cells)
                    + " |"
                )
        return "\n".join(out) + "\n"


def _cpus() -> int:
    import os

    return os.cpu_count() or 0
