"""Unix-socket pieces every backend shares: connecting through a full backlog, and listening.

Theory of operation: ``shims.connect_unix``/``serve_unix`` check the path
(missing, not a socket, longer than ``sun_path``) in neutral code before a
backend sees it; what is left is the same on every scheduler, so it lives
here once and every backend calls it.

A non-blocking ``connect()`` on ``AF_UNIX`` completes or fails at once:
there is no handshake in flight. EAGAIN means the listener's backlog is
full, not "in progress". The native helpers get that wrong in two different
ways: asyncio's ``sock_connect`` waits for writability and hands back an
unconnected socket, and Twisted's ``connectUNIX`` (``tcp.BaseClient.doConnect``)
sees the unconnected socket's POLLHUP and fails at once with a clean-close
error. So ``connect_unix_socket`` retries the ``connect()`` itself, backing
off from 1 ms to 50 ms through the scheduler's own ``sleep``; the caller's
deadline bounds the retries (``ConnectTimeout``, as a TCP connect to a
listener whose SYN queue is full). The backend then wraps the connected
socket its own way (asyncio's ``create_unix_connection(sock=...)``,
Twisted's ``adoptStreamConnection``, the legacy selector transport).

``listen_unix_socket`` binds and listens with the same backlog on every
backend (``UNIX_BACKLOG``; a full Unix backlog fails the client's
``connect()`` with EAGAIN instead of queueing a retransmitted SYN, so a small
one is visible to clients) and fails with one error (``unix_listen_error``). The socket file's mode is what the process's
umask gives a new file, as with a plain ``bind()`` (``socket_file_mode``
tells a scheduler whose listener sets the mode itself which one to set).
"""

from __future__ import annotations

import errno
import os
import socket
from collections.abc import Awaitable, Callable

from .._errors import ConnectError

__all__ = [
    "UNIX_BACKLOG",
    "connect_unix_socket",
    "listen_unix_socket",
    "socket_file_mode",
    "unix_listen_error",
]

#: The listen backlog of every Unix-socket server, on every backend.
UNIX_BACKLOG = 512
_FIRST_RETRY = 0.001
_LAST_RETRY = 0.05


async def connect_unix_socket(
    path: str, sleep: Callable[[float], Awaitable[object]]
) -> socket.socket:
    """Return a non-blocking ``AF_UNIX`` socket connected to ``path``.

    ``sleep`` is the running scheduler's sleep: while the listener's backlog
    is full the connect is retried after it, so put the caller's deadline
    around this call. Raises the native ``OSError`` (``ConnectionRefusedError``
    when nobody listens); the socket is closed on every failure, cancellation
    included.
    """
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        sock.setblocking(False)
        delay = _FIRST_RETRY
        while (err := sock.connect_ex(path)) in (errno.EAGAIN, errno.EWOULDBLOCK):
            await sleep(delay)
            delay = min(delay * 2, _LAST_RETRY)
        if err:
            raise OSError(err, os.strerror(err))
    except BaseException:
        sock.close()
        raise
    return sock


def listen_unix_socket(path: str) -> socket.socket:
    """Return a non-blocking ``AF_UNIX`` socket bound to ``path`` and listening.

    Raises ``ConnectError`` (cause: the native error) when ``path`` cannot be
    bound, e.g. a file is in the way or the directory is missing.
    """
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        sock.bind(path)
        sock.listen(UNIX_BACKLOG)
        sock.setblocking(False)
    except OSError as exc:
        sock.close()
        raise unix_listen_error(path, exc) from exc
    return sock


def unix_listen_error(path: str, exc: OSError) -> ConnectError:
    """The error every backend raises when it cannot listen on the Unix socket ``path``."""
    return ConnectError(f"could not listen on Unix socket {path!r}: {exc.strerror or exc}")


def socket_file_mode() -> int:
    """Return the permission bits ``bind()`` gives a new Unix socket file: 0o777 less the umask.

    For a listener that sets the mode itself (Twisted's ``listenUNIX`` makes
    it 0o666, world-connectable, by default) so the file ends up as on every
    other backend.
    """
    return 0o777 & ~_umask()


def _umask() -> int:
    try:
        with open("/proc/self/status", encoding="ascii") as status:  # Linux 4.7+: no side effect
            for line in status:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    # Elsewhere the umask can only be read by setting it; the stricter 0o077 in the
    # meantime can only make a file another thread creates right now less accessible.
    mask = os.umask(0o077)
    os.umask(mask)
    return mask
