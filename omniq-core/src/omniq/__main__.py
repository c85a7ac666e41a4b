"""``python -m omniq``: the ``omniq`` command line."""

import sys

from omniq.cli import main

sys.exit(main())
