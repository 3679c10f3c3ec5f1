"""The backends that ship with the toolkit: one module per backend, each registers itself.

To bundle another backend, write one module here that ends with
``register("<name>", YourBackend())`` and import it in ``load`` (the order of
the imports is the order of ``shims.backends.names()``; the default first).
"""

from __future__ import annotations

__all__ = ["load"]


def load() -> None:
    """Import (so register) every bundled backend; none imports its third-party package yet."""
    # isort: off
    from . import legacy  # noqa: F401  (the default comes first)
    from . import asyncio  # noqa: F401
    from . import uvloop  # noqa: F401
    from . import twisted  # noqa: F401
    # isort: on
