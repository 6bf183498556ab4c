"""`python -m pgqtop` runs the same CLI as the `pgqtop` command."""

import sys

from pgqtop.cli import main

sys.exit(main())
