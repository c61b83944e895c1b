"""``python -m minigpt``: see ``minigpt.cli``."""

import sys

from .cli import main

sys.exit(main())
