"""`python -m cluster.reconciler`: run the reconciler in the foreground."""

import sys

from .main import main

sys.exit(main())
