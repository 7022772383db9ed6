"""``python -m aiaudio.cli``: the same as ``aiaudio``."""

import sys

from .parser import main

sys.exit(main())
