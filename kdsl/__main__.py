"""`python -m kdsl` is the `kdsl` command."""

import sys

from kdsl.tools.cli import main

sys.exit(main())
