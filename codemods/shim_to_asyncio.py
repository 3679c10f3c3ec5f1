"""shim-to-asyncio: the final step, ``shims`` runtime calls to plain asyncio."""

from __future__ import annotations

from typing import ClassVar

from ._rename.command import SpecRenameCommand


class ShimToAsyncioCommand(SpecRenameCommand):
    """Rewrite ``shims`` runtime calls to asyncio; connections, pools and errors stay.

    ``shims.run(main, *args)`` becomes ``asyncio.run(main(*args))``; a
    ``service=`` argument is dropped (it only chose the backend) and a
    ``backend=`` other than the literal ``"asyncio"`` is refused, since
    ``asyncio.run`` would silently change the event loop. ``shims.monotonic()``
    becomes ``time.monotonic()``: the clock asyncio's loop uses, valid outside
    a running loop, and not uvloop's per-iteration cached time.
    """

    DESCRIPTION: str = "Rewrite shims runtime calls to plain asyncio (connections stay on shims)."
    DEFAULT_SPEC: ClassVar[str] = "shim_asyncio.toml"
