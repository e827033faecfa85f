"""`python -m pyopencode` runs the command line."""

import sys

from pyopencode.cli import main

sys.exit(main())
