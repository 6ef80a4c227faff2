"""`python -m tools.rehearsal down` stops everything a rehearsal started (make rehearsal-down);
`status` lists its processes. The scenario itself runs as tests: tests/rehearsal/."""

from __future__ import annotations

import argparse

from . import procs
from .stack import down


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m tools.rehearsal", description=__doc__)
    parser.add_argument("command", choices=["down", "status"])
    args = parser.parse_args()
    if args.command == "down":
        down()
    else:
        for name, pid in procs.running().items():
            print(f"{pid:>8}  {name}")


if __name__ == "__main__":
    main()
