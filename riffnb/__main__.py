"""``python -m riffnb``: the ``riffnb`` command (see :mod:`riffnb.cli`)."""

import sys

from .cli import main

if __name__ == "__main__":
    sys.exit(main())
