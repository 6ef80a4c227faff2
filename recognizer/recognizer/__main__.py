"""`python -m recognizer ...`: see recognizer.cli."""

import sys

from recognizer.cli import main

sys.exit(main())
