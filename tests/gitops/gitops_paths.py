"""Paths the GitOps tests share (a plain module: `conftest` is ambiguous across test folders)."""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

SHARED = ROOT.parent / "shared"
FLEET_SCHEMAS = SHARED / "schemas" / "fleet"
