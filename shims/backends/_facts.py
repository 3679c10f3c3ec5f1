"""``new_connection``: how a backend turns one of its sockets into a ``shims.Connection``.

The backend wraps its socket in a ``Transport`` and calls ``new_connection``
from a task or callback of its running scheduler; the ``Facts`` it gets back
are what its I/O callbacks call from then on. Each fact is a bound method of
the connection itself (no hop in between), so a backend may bind them
straight into its protocol object.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Literal

from .. import _runtime
from .._connection import Connection
from .._contract import Transport

__all__ = ["Facts", "new_connection"]


class Facts:
    """What a backend tells one connection, as soon as its scheduler sees it.

    - ``data_received(data)``: bytes arrived (never empty);
    - ``eof_received()``: the peer's FIN (its sending side ended);
    - ``connection_lost(exc)``: the transport went away; ``None`` for an
      orderly end, ``ConnectionResetError``/``BrokenPipeError``/
      ``ConnectionAbortedError`` for a reset, any other exception for an
      error (the connection decides the state, reason and error types);
    - ``pause_writing()``: the kernel did not take every byte of a write;
    - ``resume_writing()``: every queued byte is in the kernel now.

    ``connection`` is the ``shims.Connection`` to hand to the caller.
    """

    __slots__ = (
        "connection",
        "connection_lost",
        "data_received",
        "eof_received",
        "pause_writing",
        "resume_writing",
    )

    def __init__(self, conn: Connection) -> None:
        self.connection = conn
        self.data_received: Callable[[bytes], None] = conn._on_data
        self.eof_received: Callable[[], None] = conn._on_eof
        self.connection_lost: Callable[[BaseException | None], None] = conn._on_lost
        self.pause_writing: Callable[[], None] = conn._on_pause_writing
        self.resume_writing: Callable[[], None] = conn._on_resume_writing


def new_connection(
    transport: Transport,
    *,
    initiated_by: Literal["local", "peer"],
    duplex: bool,
    peer: tuple[str, int] | None = None,
    fd: int | None = None,
) -> Facts:
    """Make the ``Connection`` over ``transport`` and return the facts its backend pushes.

    Call it on the running scheduler (its clock and the selected backend name
    are taken from there). ``peer`` and ``fd`` default to what
    ``transport.get_extra_info`` says about ``"peername"`` and ``"socket"``;
    ``fd`` is what the liveness probe polls (-1: no probe, the state alone
    decides).
    """
    if fd is None:
        sock = transport.get_extra_info("socket")
        fd = sock.fileno() if sock is not None else -1
    if peer is None:
        name = transport.get_extra_info("peername") or ("?", 0)
        peer = (str(name[0]), int(name[1]))
    conn = Connection(
        transport,
        _runtime.clock(),
        backend=_runtime.current_backend(),
        initiated_by=initiated_by,
        peer=peer,
        fd=fd,
        duplex=duplex,
    )
    return Facts(conn)
