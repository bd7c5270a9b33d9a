"""``python -m leasekit``: the same as the ``leasekit`` console script."""

import sys

from leasekit.cli import main

sys.exit(main())
