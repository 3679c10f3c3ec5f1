"""Putting TLS on a connection: argument checks, ``start_tls``, and the handshake's two steps.

Theory of operation: TLS goes on in two steps so no byte is missed. ``begin``
is synchronous: it puts a ``TLSLayer`` in as the connection's transport and
as the receiver of its byte facts, before the scheduler can run again (a TLS
server calls it from its accept callback), and hands any bytes that arrived
before it (the dial's own loop turn) to the layer. ``finish`` runs the
handshake under its deadline and closes the connection on any failure or
cancellation, so a failed handshake leaks nothing. ``connect(ssl=...)``,
``serve(ssl=...)`` and ``Connection.start_tls`` all go through these two.
"""

from __future__ import annotations

import ssl
from typing import TYPE_CHECKING

from ._errors import TLSError
from ._state import ConnectionState
from ._tls import TLSLayer

if TYPE_CHECKING:
    from ._connection import Connection

__all__ = ["begin", "check_context", "client_context", "finish", "start"]


def check_context(value: object, what: str) -> ssl.SSLContext | None:
    """Return the ``ssl.SSLContext`` that ``value`` asks for (``True``: the default client one).

    Raises ``TLSError`` for anything but a context, ``True``, ``False`` or ``None``.
    """
    if value is None or value is False:
        return None
    if value is True:
        return client_context()
    if isinstance(value, ssl.SSLContext):
        return value
    raise TLSError(
        f"{what}: ssl={value!r} is not an ssl.SSLContext; pass ssl=True for the default "
        "client context, or build one with ssl.create_default_context()"
    )


def client_context() -> ssl.SSLContext:
    """The default client context: system CAs, hostname checking, TLS 1.2 or newer."""
    return ssl.create_default_context()


async def start(
    conn: Connection,
    ssl_context: object,
    server_hostname: str | None,
    timeout: float | None,  # noqa: ASYNC109
) -> None:
    """``Connection.start_tls``: check the request, then ``begin`` and ``finish``."""
    what = f"start_tls on {conn!r}"
    if conn._closed_locally or conn._state is not ConnectionState.OPEN:
        raise conn._write_error("start_tls")
    context = None if ssl_context is True else check_context(ssl_context, what)
    if context is None:
        raise TLSError(
            f"{what}: needs an ssl.SSLContext, got {ssl_context!r}; build one with "
            "ssl.create_default_context()"
        )
    if conn._tls is not None:
        raise TLSError(f"{what}: the connection is already TLS; start_tls() is done once")
    if conn._buf:
        raise TLSError(
            f"{what}: {len(conn._buf)} plaintext bytes arrived before the upgrade and were "
            "not read; read the server's answer to the upgrade request first"
        )
    if conn.initiated_by == "local" and server_hostname is None and context.check_hostname:
        server_hostname = conn.peer[0]
    begin(conn, context, server_hostname, what)
    await finish(conn, timeout, what)


def begin(
    conn: Connection, context: ssl.SSLContext, server_hostname: str | None, what: str
) -> None:
    """Put a TLS layer between ``conn`` and its transport (no await: no byte missed).

    Raises ``TLSError`` (closing ``conn``) when the context refuses, e.g. a
    client context that checks host names without ``server_hostname``.
    """
    try:
        layer = TLSLayer(
            conn,
            conn._t,
            context,
            server_side=conn.initiated_by == "peer",
            server_hostname=server_hostname,
            fd=conn._fd,
        )
    except (ValueError, ssl.SSLError) as exc:
        conn.close()
        raise TLSError(
            f"{what}: cannot start TLS with this context: {exc} (a client context that "
            "checks host names needs server_hostname=...)"
        ) from exc
    conn._tls = layer
    conn._t = layer
    if conn._buf:  # records that arrived before the layer (the dial's own loop turn)
        early = bytes(conn._buf)
        conn._buf.clear()
        layer.feed(early)


async def finish(
    conn: Connection,
    timeout: float | None,  # noqa: ASYNC109
    what: str,
    budget: float | None = None,
) -> None:
    """Run the handshake; on any failure (or cancellation) close ``conn`` and re-raise.

    Raises ``TLSError`` or ``ConnectTimeout`` (``budget``: the caller's whole
    deadline, named in the message).
    """
    layer = conn._tls
    assert layer is not None
    try:
        await layer.handshake(timeout, what, budget)
    except BaseException:
        conn.close()
        raise
