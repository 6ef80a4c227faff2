"""`python -m recognizer.settings_table`: recognizer/README.md's settings table, from `config.Settings`.

The README's table is this output, byte for byte (tests/recognizer/test_config.py compares them),
so a setting's name, default and meaning are written once, in config.py;
`python -m recognizer.settings_table --update recognizer/README.md` rewrites it there.
"""

from __future__ import annotations

import sys
from pathlib import Path
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
    rows = [
        f"| `{Settings.env_name(name)}` | {shown_default(name)} | {info.description} |\n"
        for name, info in Settings.model_fields.items()
    ]
    return HEADER + "".join(rows)


def replace_in(text: str) -> str:
    """`text` with its settings table (from HEADER to the first blank line) replaced by `markdown()`."""
    start = text.index(HEADER)
    end = text.find("\n\n", start)
    return text[:start] + markdown() + text[end + 1 if end >= 0 else len(text) :]


def main(argv: list[str] | None = None) -> int:
    """Print the table; `--update FILE` rewrites the table inside FILE (recognizer/README.md)."""
    args = sys.argv[1:] if argv is None else argv
    if args[:1] == ["--update"] and len(args) == 2:
        path = Path(args[1])
        path.write_text(replace_in(path.read_text()))
        return 0
    if args:
        print("usage: python -m recognizer.settings_table [--update README.md]", file=sys.stderr)
        return 2
    sys.stdout.write(markdown())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
