"""FaultProxy: a threaded TCP proxy on loopback that injects the faults production saw."""

# Theory of operation
# -------------------
# One daemon thread runs a selector loop over the listening socket, a wake-up
# socketpair, every proxied Pair (_proxy_pair.py) and the "lingering" sockets
# of FIN-closed pairs.  The proxy runs in its own thread so it behaves the
# same whichever backend the code under test uses.  Public fault methods are
# called from the test's thread: each one is queued as a command, the loop is
# woken, and the caller blocks until the loop applied it, so "the fault is in
# place" is an event, not a sleep.  Counters are written by the loop only and
# every change is announced on a Condition: ``wait_for`` blocks on it, and
# ``until`` polls it with ``shims.sleep`` so it works on every backend.

from __future__ import annotations

import contextlib
import os
import socket
import threading
import time
from collections.abc import Awaitable, Callable
from types import TracebackType
from typing import Any, Self

from . import faults
from ._proxy_loop import Loop
from ._proxy_pair import Counters
from .faults import Fault, is_registered

__all__ = ["FaultProxy"]

RECV_BUFFER = 64 * 1024
Predicate = Callable[["FaultProxy"], bool]


class FaultProxy:
    """Proxy TCP from ``host:port`` to an upstream, with faults switchable while live.

    An ``upstream_host`` that is a path (starts with ``/``) is a Unix socket
    upstream (``upstream_port`` is then ignored); ``path=`` makes the proxy
    listen on a Unix socket instead of ``host:port``. The proxy works below
    TLS: it forwards records as bytes and never speaks TLS itself, so its FIN
    faults reach a TLS client without ``close_notify`` (a truncation).
    Use it as a context manager (or ``start()``/``stop()``).  The listening
    socket's SO_RCVBUF is kept small (64 KiB) so ``stop_reading`` stalls a
    client's writes after a bounded amount of data.  A client whose upstream
    refuses the connection is closed with a FIN.  Faults set before
    ``start()`` apply from the first connection.
    """

    def __init__(
        self,
        upstream_host: str,
        upstream_port: int,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        path: str | None = None,
    ) -> None:
        self.upstream_host = upstream_host
        self.upstream_port = upstream_port
        self.host = host
        self.port = port
        self.path = path
        self._counters = Counters()
        self._close_log: list[str] = []
        self._cond = threading.Condition()
        self._loop = Loop(self._counters, self._close_log, self._cond)
        self._started = False
        self._stopped = False

    def __repr__(self) -> str:
        c = self._counters
        where = f"unix:{self.path}" if self.path is not None else f"{self.host}:{self.port}"
        up = self.upstream_host
        up = up if up.startswith("/") else f"{up}:{self.upstream_port}"
        return (
            f"<FaultProxy {where} -> {up}"
            f" live={c.live} total={c.total} closed={c.closed}"
            f" to_upstream={c.to_upstream} to_client={c.to_client} {self._loop.faults!r}>"
        )

    # -- observation -----------------------------------------------------------

    @property
    def live_connections(self) -> int:
        """Connections accepted and not yet closed by either side."""
        return self._counters.live

    @property
    def total_connections(self) -> int:
        """Connections accepted since start."""
        return self._counters.total

    @property
    def closed_connections(self) -> int:
        """Connections that ended, whoever ended them."""
        return self._counters.closed

    @property
    def close_reasons(self) -> list[str]:
        """Why each connection ended, in order (e.g. ``"max_lifetime"``, ``"both_closed"``)."""
        return list(self._close_log)

    @property
    def bytes_to_upstream(self) -> int:
        """Bytes written to the upstream (after every fault was applied)."""
        return self._counters.to_upstream

    @property
    def bytes_to_client(self) -> int:
        """Bytes written to clients (after every fault was applied)."""
        return self._counters.to_client

    def wait_for(self, predicate: Predicate, timeout: float = 10.0) -> None:
        """Block until ``predicate(proxy)`` is true.

        Raises TimeoutError (naming the proxy's state) after ``timeout`` seconds,
        RuntimeError if the proxy thread crashed.
        """
        loop = self._loop
        with self._cond:
            met = self._cond.wait_for(lambda: loop.error is not None or predicate(self), timeout)
        loop.check()
        if not met:
            raise TimeoutError(f"condition not met within {timeout!r} s: {self!r}")

    async def until(self, predicate: Predicate, timeout: float = 10.0) -> None:  # noqa: ASYNC109
        """Wait, without blocking the event loop, until ``predicate(proxy)`` is true.

        Works on every shim backend (it polls every few milliseconds with
        ``shims.sleep``).  Raises TimeoutError (naming the proxy's state).
        """
        import shims  # lazily: the proxy itself needs no event loop

        sleep: Callable[[float], Awaitable[None]] = shims.sleep
        deadline = time.monotonic() + timeout
        delay = 0.001
        while not predicate(self):
            self._loop.check()
            if time.monotonic() >= deadline:
                raise TimeoutError(f"condition not met within {timeout!r} s: {self!r}")
            await sleep(delay)
            delay = min(delay * 2, 0.01)

    # -- lifecycle -------------------------------------------------------------

    def start(self) -> Self:
        """Bind, listen and start the proxy thread; returns the proxy.

        Raises RuntimeError when started twice, OSError when binding or
        resolving the upstream fails.
        """
        if self._started:
            raise RuntimeError(f"{self!r} was already started; create a new FaultProxy")
        family: int
        address: Any
        if self.upstream_host.startswith("/"):
            family, address = socket.AF_UNIX, self.upstream_host
        else:
            info = socket.getaddrinfo(
                self.upstream_host, self.upstream_port, type=socket.SOCK_STREAM
            )
            family, address = info[0][0], info[0][4]
        if self.path is not None:
            listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        else:
            listen_family = socket.AF_INET6 if ":" in self.host else socket.AF_INET
            listener = socket.socket(listen_family, socket.SOCK_STREAM)
        try:
            if self.path is None:
                listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            # Accepted sockets inherit it: small, so stop_reading backs up fast.
            listener.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, RECV_BUFFER)
            listener.bind(self.path if self.path is not None else (self.host, self.port))
            listener.listen(512)
            listener.setblocking(False)
        except BaseException:
            listener.close()
            raise
        if self.path is None:
            self.port = listener.getsockname()[1]
        self._started = True
        self._loop.start(listener, family, address)
        return self

    def stop(self) -> None:
        """Reset every connection, close the listener and join the thread. Idempotent.

        Raises RuntimeError if the thread does not stop within 10 s, or crashed.
        """
        if not self._started or self._stopped:
            return
        self._stopped = True
        stopped = self._loop.stop()
        if self.path is not None:
            with contextlib.suppress(OSError):
                os.unlink(self.path)
        if not stopped:
            raise RuntimeError(f"{self!r}: proxy thread did not stop within 10 s")
        self._loop.check()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    # -- faults ------------------------------------------------------------------
    # Each method builds one fault object (shims/testing/faults/) and installs
    # it; the object validates its arguments here, in the caller's thread.

    def install(self, fault: Fault) -> None:
        """Put ``fault`` in place on the proxy thread; it is in place when this returns.

        A ``Fault`` applies to every live and future connection and replaces
        the one of its class (one whose ``enabled()`` is false switches that
        class off); an ``Action`` acts once on the connections live now.
        Raises TypeError for a class not registered with
        ``shims.testing.faults.register``, and whatever the fault raises
        (LookupError from ``kill_one``, naming the proxy's state).
        """
        if not is_registered(type(fault)):
            raise TypeError(
                f"{type(fault).__name__} is not a registered fault; call "
                f"shims.testing.faults.register({type(fault).__name__}) first"
            )
        loop = self._loop

        def install() -> None:
            fault.install(loop, time.monotonic())

        try:
            self._call(install)
        except LookupError as exc:
            raise type(exc)(f"{exc}: {self!r}") from None

    def close_all(self, rst: bool = False) -> None:
        """Close every live connection on both sides, with FIN (default) or RST."""
        self.install(faults.CloseAll(rst))

    def kill_one(self, rst: bool = False) -> None:
        """Close one random live connection on both sides.

        Raises LookupError when no connection is live.
        """
        self.install(faults.KillOne(rst))

    def half_close(self, direction: str) -> None:
        """Forward a FIN one way on every live connection and keep the other way open.

        ``"to_client"``: clients see EOF (after what was already queued) and
        can still send; what the upstream sends later is dropped.
        ``"to_upstream"``: the mirror image.  Raises ValueError for another value.
        """
        self.install(faults.HalfClose(direction))

    def stop_reading(self, on: bool = True) -> None:
        """Stop (or resume) reading from clients: their writes stall on real backpressure."""
        self.install(faults.StopReading(on))

    def blackhole(self, on: bool = True) -> None:
        """Forward nothing either way and send neither FIN nor RST (or resume).

        New connections are accepted but not dialled upstream until it is off.
        """
        self.install(faults.Blackhole(on))

    def latency(self, seconds: float) -> None:
        """Delay every chunk by ``seconds`` in both directions (0 to remove)."""
        self.install(faults.Latency(seconds))

    def bandwidth(self, bytes_per_second: float | None) -> None:
        """Limit each direction of each connection to ``bytes_per_second`` (None: no limit)."""
        self.install(faults.Bandwidth(bytes_per_second))

    def slice(self, size: int | None, delay: float = 0.0) -> None:
        """Forward in writes of at most ``size`` bytes, ``delay`` seconds apart (None: off)."""
        self.install(faults.Slice(size, delay))

    def close_after_bytes(self, n: int | None) -> None:
        """Close (FIN) each connection once ``n`` bytes passed it, both ways counted.

        Counts from the connection's start; exactly ``n`` bytes are forwarded,
        and a connection already past ``n`` closes at once.
        """
        self.install(faults.CloseAfterBytes(n))

    def max_lifetime(self, seconds: float | None) -> None:
        """Close (FIN) each connection ``seconds`` after it opened, like a DB proxy."""
        self.install(faults.MaxLifetime(seconds))

    def idle_timeout(self, seconds: float | None) -> None:
        """Close (FIN) each connection after ``seconds`` without a byte either way.

        Bytes the proxy still holds (latency, pacing, a client not reading)
        are in flight: the clock starts once both directions are empty.
        """
        self.install(faults.IdleTimeout(seconds))

    def fin_mid_record(self, keep: int) -> None:
        """Forward only ``keep`` more bytes to each live client, then close both ways with FIN.

        For a TLS client that is a record cut short followed by a FIN and no
        ``close_notify``: the truncation a TLS stack must not take for a clean
        close. ``keep`` counts from now; the cut happens when that many bytes
        of what the upstream sends next have been forwarded.
        """
        self.install(faults.FinMidRecord(keep))

    def inject_and_close(self, data: bytes) -> None:
        """Send ``data`` to every live client, then close with FIN (a server's error packet)."""
        self.install(faults.InjectAndClose(data))

    def clear(self) -> None:
        """Remove every switchable fault; connections already closed stay closed."""
        self._call(self._loop.clear_faults)

    # -- command plumbing --------------------------------------------------------

    def _call(self, fn: Callable[[], object]) -> None:
        if self._stopped:
            raise RuntimeError(f"{self!r} is stopped; create a new FaultProxy")
        self._loop.call(fn)
