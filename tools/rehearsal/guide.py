"""The operator guide's shell blocks (clusters/README.md), run as they are written.

The rehearsal labels clusters, taints edge nodes and creates the Secrets by running the guide's
own commands, so a guide that drifts from what the charts need fails the rehearsal."""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

from .layout import BIN, ROOT

GUIDE = ROOT / "clusters" / "README.md"


def block(section: str, guide: Path = GUIDE, heading: str | None = None) -> str:
    """The first ```sh block under the heading that starts with `## <section>.`, or under its
    subheading `### <heading>` (the whole title)."""
    text = guide.read_text()
    match = re.search(rf"(?m)^## {re.escape(section)}\.[^\n]*\n(.*?)(?=^## |\Z)", text, re.S)
    if not match:
        raise LookupError(f"{guide.name}: no section '## {section}.'")
    body, where = match.group(1), f"section {section}"
    if heading is not None:
        sub = re.search(rf"(?m)^### {re.escape(heading)}\n(.*?)(?=^### |\Z)", body, re.S)
        if not sub:
            raise LookupError(f"{guide.name}: section {section} has no '### {heading}'")
        body, where = sub.group(1), f"section {section}, '{heading}'"
    code = re.search(r"```sh\n(.*?)```", body, re.S)
    if not code:
        raise LookupError(f"{guide.name}: {where} has no ```sh block")
    return code.group(1)


def run(
    section: str,
    kubeconfig: Path,
    cwd: Path,
    substitutions: dict[str, str] | None = None,
    keep_lines: str | None = None,
    drop_lines: str | None = None,
    heading: str | None = None,
    variables: dict[str, str] | None = None,
) -> str:
    """Run a section's block (or its subsection's, see block) with bash -euo pipefail against one
    cluster; returns its output.

    substitutions replace placeholders such as `<node>`; keep_lines keeps only the lines that
    contain it (plus comments), for blocks that show alternatives or steps run elsewhere;
    drop_lines drops the lines that contain it (a step for other clusters); variables are shell
    variables the block reads (what its dropped lines would have set)."""
    script = block(section, heading=heading)
    if keep_lines is not None:
        script = "\n".join(line for line in script.splitlines() if keep_lines in line or line.lstrip().startswith("#"))
    if drop_lines is not None:
        script = "\n".join(line for line in script.splitlines() if drop_lines not in line)
    for old, new in (substitutions or {}).items():
        script = script.replace(old, new)
    env = {k: v for k, v in os.environ.items() if not k.startswith("KUBE")}
    env |= (variables or {}) | {"KUBECONFIG": str(kubeconfig), "PATH": f"{BIN}:{env.get('PATH', '')}"}
    proc = subprocess.run(
        ["bash", "-euo", "pipefail", "-c", script], cwd=cwd, env=env, capture_output=True, text=True, timeout=120
    )
    if proc.returncode != 0:
        raise RuntimeError(
            f"clusters/README.md section {section} failed against {kubeconfig.name}:\n"
            f"{script}\n--- stderr:\n{proc.stderr}"
        )
    return proc.stdout
