"""The reference in-house async runtime the toolkit migrates services away from.

Use it as ``from legacy import runtime``; see ``legacy.runtime``.
"""

from . import runtime as runtime

__all__ = ["runtime"]
