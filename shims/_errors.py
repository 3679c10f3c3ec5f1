"""The one exception tree every backend raises.

No asyncio or legacy exception escapes a public call: backends convert native
errors at the boundary and keep the native one as ``__cause__``.
"""

from __future__ import annotations

__all__ = [
    "ConnectError",
    "ConnectTimeout",
    "ConnectionClosedError",
    "FlagError",
    "PeerClosedError",
    "ReadLimitError",
    "ReadTimeout",
    "ShimError",
    "ShimTimeout",
    "TLSError",
    "TLSTruncatedError",
    "WriteTimeout",
]


class ShimError(Exception):
    """Base class of every error the shim raises."""


class ConnectError(ShimError, ConnectionError):
    """Could not connect (refused, unreachable, name resolution failed)."""


class PeerClosedError(ShimError, EOFError, ConnectionError):
    """The peer closed (FIN) or reset (RST) the connection.

    ``partial`` holds the bytes read before the end was seen, ``reason`` is
    ``"peer"`` for an orderly close and ``"reset"`` for a reset.
    """

    def __init__(self, message: str, *, partial: bytes = b"", reason: str = "peer") -> None:
        super().__init__(message)
        self.partial = partial
        self.reason = reason


class TLSError(ConnectError):
    """A TLS handshake or certificate failure, or a bad TLS argument.

    ``verify_message`` holds OpenSSL's certificate verification reason (e.g.
    ``"Hostname mismatch, certificate is not valid for 'db.example'."``) when
    verification failed, else None; the message carries it too.
    """

    def __init__(self, message: str, *, verify_message: str | None = None) -> None:
        super().__init__(message)
        self.verify_message = verify_message


class TLSTruncatedError(PeerClosedError):
    """The TLS peer's stream ended with a TCP FIN and no ``close_notify`` (``reason="truncated"``).

    Everything before the cut was delivered, but the peer never said it was
    done: the last message may be incomplete (RFC 8446 6.1). Distinct from an
    orderly close, where ``read_some()`` returns ``b""``.
    """

    def __init__(self, message: str, *, partial: bytes = b"") -> None:
        super().__init__(message, partial=partial, reason="truncated")


class ConnectionClosedError(ShimError, ConnectionError):
    """The connection was used after we closed it."""


class ShimTimeout(ShimError, TimeoutError):
    """Base class of the shim's I/O deadlines."""


class ReadTimeout(ShimTimeout):
    """A read did not complete before its deadline; nothing was consumed."""


class WriteTimeout(ShimTimeout):
    """A write was not taken by the kernel before its deadline (peer not reading)."""


class ConnectTimeout(ShimTimeout, ConnectError):
    """A connect did not complete before its deadline."""


class ReadLimitError(ShimError, ValueError):
    """``read_until`` buffered ``limit`` bytes without finding the separator; nothing consumed."""


class FlagError(ShimError, ValueError, SystemExit):
    """The per-service backend flag is misconfigured.

    The flag is read at process start, and a bad one must stop the process
    with one clear message, never a silent fallback. So this is also a
    ``SystemExit``: left uncaught, Python prints ``shims: <message>`` on
    stderr and exits with status 1, without a traceback. It is still an
    ``Exception`` (and a ``ShimError``/``ValueError``) for code and tests that
    catch it.
    """

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.code = f"shims: {message}"
