"""`python -m collector.cli`: the same entry point as the `pin-collector` script."""

import sys

from collector.cli.main import main

sys.exit(main())
