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
