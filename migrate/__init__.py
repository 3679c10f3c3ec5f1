"""The ``migrate`` command line: codemods, scan, check, flags, parity, demo."""

from ._cli import main as main

__all__ = ["main"]
