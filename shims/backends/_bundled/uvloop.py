"""The ``uvloop`` backend: the asyncio backend on uvloop's event loop (extra ``[uvloop]``).

uvloop is imported when a run starts, never when the registry lists names,
so a process that does not select it does not pay for (or need) it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from .. import register
from .asyncio import AsyncioBackend

__all__ = ["UvloopBackend"]


class UvloopBackend(AsyncioBackend):
    """``AsyncioBackend`` whose loops come from ``uvloop.new_event_loop``."""

    requires = ("uvloop",)
    install_hint = "pip install 'migrate-toolkit[uvloop]'"

    def __init__(self) -> None:
        super().__init__(loop_module="uvloop")

    def loop_factory(self) -> Callable[[], asyncio.AbstractEventLoop]:
        import uvloop

        return uvloop.new_event_loop


register("uvloop", UvloopBackend())
