"""``python -m vidsearch`` is the ``vidsearch`` command."""

import sys

from vidsearch.cli import main

sys.exit(main())
