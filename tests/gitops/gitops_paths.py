"""Paths the GitOps tests share (a plain module: `conftest` is ambiguous across test folders)."""
from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))  # for tools.gitops

SHARED = ROOT.parent / "shared"
FLEET_SCHEMAS = SHARED / "schemas" / "fleet"
