"""``python -m magplus`` runs the ``magplus`` command."""

import sys

from .cli import main

sys.exit(main())
