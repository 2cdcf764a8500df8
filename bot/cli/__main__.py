"""``python -m bot.cli``: the intake command."""

import sys

from . import main

sys.exit(main())
