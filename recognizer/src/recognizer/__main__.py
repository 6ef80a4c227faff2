"""`python -m recognizer ...`: see recognizer.cli."""

import sys

from recognizer.cli import main

if __name__ == "__main__":  # not in the face worker processes, which import this module as __mp_main__
    sys.exit(main())
