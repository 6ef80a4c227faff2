"""`python -m recognizer.settings_table`: recognizer/README.md's settings table, from `config.Settings`.

The README's table is this output, byte for byte (tests/recognizer/test_config.py compares them),
so a setting's name, default and meaning are written once, in config.py.
"""

from __future__ import annotations

import sys
from typing import Any

from recognizer.config import Settings

HEADER = "| variable | default | meaning |\n|---|---|---|\n"


def shown_default(name: str) -> str:
    """How the README shows a setting's default: its note where it has one, else the value itself."""
    info = Settings.model_fields[name]
    extra = info.json_schema_extra if isinstance(info.json_schema_extra, dict) else {}
    if extra.get("shown_default") is not None:
        return str(extra["shown_default"])
    value: Any = info.default
    if value in ("", ()):
        return "empty"
    if isinstance(value, float):
        return f"`{value:g}`"
    return f"`{value}`"


def markdown() -> str:
    """The table: one row per field of Settings, in declaration order."""
    rows = [f"| `{Settings.env_name(name)}` | {shown_default(name)} | {info.description} |\n"
            for name, info in Settings.model_fields.items()]
    return HEADER + "".join(rows)


def main() -> int:
    sys.stdout.write(markdown())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
