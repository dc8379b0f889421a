"""What the benchmark scripts share: argument types and how a figure is shown against its limit or baseline.

Not a benchmark itself. The scripts import it by name: run as ``python benchmarks/<script>.py``, their folder is
first on ``sys.path``.
"""

from __future__ import annotations

import argparse


def positive_int(text: str) -> int:
    """An argparse ``type``: a whole number of at least 1, else a one-line usage error (exit status 2)."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number; give 1 or more") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"{value} is too few; give 1 or more")
    return value


def of_limit(value: float, limit: float) -> str:
    """``value`` as a share of ``limit`` (``"0.42x"``; above 1 means over it)."""
    return f"{value / limit:.2f}x"
