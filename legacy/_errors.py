"""The legacy runtime's exceptions.

Cancellation and timeouts follow the in-house runtime: ``Cancelled`` is a
``BaseException`` (so a bare ``except Exception`` in service code cannot
swallow it) and ``Timeout`` is a ``TimeoutError``. Network errors subclass the
builtin ``OSError`` family, so code written against ``ConnectionError`` or
``EOFError`` keeps working, and each carries the peer's ``host:port``.
"""

from __future__ import annotations

__all__ = [
    "Cancelled",
    "ConnectError",
    "ConnectRefusedError",
    "ConnectionClosedError",
    "LimitExceededError",
    "PeerClosedError",
    "PeerResetError",
    "TLSError",
    "Timeout",
]


class Cancelled(BaseException):
    """Raised at the await point of a cancelled task; ``finally`` blocks see it."""


class Timeout(TimeoutError):
    """An operation did not finish before its deadline (``with_timeout``, ``connect``, I/O)."""


class ConnectError(ConnectionError):
    """``connect()`` could not establish the connection; ``host`` and ``port`` say where to."""

    def __init__(self, message: str, *, host: str = "", port: int = 0) -> None:
        super().__init__(message)
        self.host = host
        self.port = port


class ConnectRefusedError(ConnectError, ConnectionRefusedError):
    """Nothing listens at ``host:port`` (the peer answered the SYN with a reset)."""


class TLSError(ConnectError):
    """A TLS handshake or certificate failure (the message says which), or a bad TLS argument."""


class PeerClosedError(EOFError, ConnectionError):
    """A read hit the peer's end of stream.

    ``partial`` holds the bytes received before it (consumed from the buffer);
    ``reason`` is ``"peer"`` for an orderly close (FIN) and ``"reset"`` for RST.
    """

    def __init__(self, message: str, *, partial: bytes = b"", reason: str = "peer") -> None:
        super().__init__(message)
        self.partial = partial
        self.reason = reason


class PeerResetError(PeerClosedError, ConnectionResetError):
    """The peer reset the connection (RST); reads and writes fail from now on."""

    def __init__(self, message: str, *, partial: bytes = b"", reason: str = "reset") -> None:
        super().__init__(message, partial=partial, reason=reason)


class ConnectionClosedError(ConnectionError):
    """The connection was closed locally (``close()``) and cannot be used any more."""


class LimitExceededError(ValueError):
    """``read_until`` buffered ``limit`` bytes without finding the separator; nothing consumed."""
