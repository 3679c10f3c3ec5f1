"""``new_connection``: how a backend turns one of its sockets into a ``shims.Connection``.

The backend wraps its socket in a ``Transport`` and calls ``new_connection``
from a task or callback of its running scheduler; the ``Facts`` it gets back
are what its I/O callbacks call from then on. Each fact is a bound method of
the connection itself (no hop in between), so a backend may bind them
straight into its protocol object.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any, Literal

from .. import _runtime
from .._connection import Connection
from .._contract import Transport

__all__ = ["Facts", "new_connection", "peer_address"]


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
    ``transport.get_extra_info`` says about ``"peername"`` (through
    ``peer_address``) and ``"socket"``;
    ``fd`` is what the liveness probe polls (-1: no probe, the state alone
    decides).
    """
    if fd is None:
        sock = transport.get_extra_info("socket")
        fd = sock.fileno() if sock is not None else -1
    if peer is None:
        peer = peer_address(
            transport.get_extra_info("peername"), lambda: transport.get_extra_info("sockname")
        )
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


def peer_address(peername: Any, sockname: Callable[[], Any]) -> tuple[str, int]:
    """Return a connection's ``peer`` from its socket's peer name, as every backend reports it.

    A TCP peer is ``(host, port)``. A Unix socket's peer is ``(path, 0)``; the
    client an accepting Unix socket gets is unnamed, so the listening path
    (``sockname()``, asked only then) names it. No name at all is ``("?", 0)``.
    """
    if isinstance(peername, str | bytes):
        return os.fsdecode(peername or sockname() or "unix"), 0
    if not peername:
        return "?", 0
    return str(peername[0]), int(peername[1])
