"""Where the checkout and ../shared are, for helpers installed in editable mode from tests/support."""

from __future__ import annotations

from pathlib import Path

# tests/support/src/facefleet_testing/paths.py -> the repository root is four levels up.
ROOT = Path(__file__).resolve().parents[4]
SHARED = ROOT.parent / "shared"
