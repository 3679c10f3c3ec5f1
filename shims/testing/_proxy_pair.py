"""One proxied connection for FaultProxy: two sockets, two directions, the faults' hooks."""

# Theory of operation
# -------------------
# A Pair owns the accepted client socket and the dialled upstream socket, and
# two Directions: "to_upstream" (client -> upstream) and "to_client"
# (upstream -> client).  A Direction queues the bytes read from its source
# and not yet written to its destination, each chunk stamped with the time it
# may leave.  Everything here runs on the proxy thread only; the loop
# (_proxy_loop.py) calls ``on_readable`` and ``pump`` (clearing ``want_write``
# when a socket turns writable) and then asks the pair which selector events
# it wants (``interest``) and when it wants to be woken (``wake_at``).  Flow
# control is real: a direction stops reading its source once HIGH_WATER bytes
# wait for the destination, and a fault that refuses reads (``may_read``)
# simply stops recv(), so the kernel buffers fill and the sender's writes
# stall (no read-and-discard).
# The pair itself knows no fault: faults (faults/) are objects whose hooks it
# calls at fixed points (read, each write, each pump, when nothing is
# queued), first the loop's switchable ones, shared by every pair, then the
# pair's own (``local``, attached by one-shot actions).
# A FIN close shuts both sockets for writing and hands them to the loop's
# "lingering" set, which drains and discards until the peer closes: closing
# a socket with unread data would turn the FIN into an RST (RFC 1122 4.2.2.13).

from __future__ import annotations

import contextlib
import socket
import struct
from collections import deque
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:
    from .faults import ActiveFaults, Fault

CHUNK = 65536
HIGH_WATER = 256 * 1024

CloseKind = Literal["fin", "rst"]


@dataclass
class Counters:
    """What the proxy observed; written by the proxy thread only."""

    total: int = 0
    live: int = 0
    closed: int = 0
    to_upstream: int = 0
    to_client: int = 0


class Direction:
    """Bytes flowing one way, with the state of that half of the connection."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.chunks: deque[tuple[float, bytes]] = deque()
        self.buffered = 0
        self.received = 0  # bytes read from the source so far
        self.eof = False  # the source sent its FIN
        self.ending = False  # send a FIN to the destination once flushed
        self.shut = False  # we sent that FIN
        self.discard = False  # drop what the source sends (after a half-close)
        self.want_write = False  # the destination's send buffer was full
        self.next_send = 0.0  # pacing (slice delay, bandwidth): no write before this
        self.close_when_flushed = False  # inject_and_close

    def push(self, release: float, data: bytes) -> None:
        self.chunks.append((release, data))
        self.buffered += len(data)


def hard_close(sock: socket.socket) -> None:
    """Close with SO_LINGER 0, so the kernel sends an RST instead of a FIN."""
    with contextlib.suppress(OSError):
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    sock.close()


class Pair:
    """A client connection and its upstream connection."""

    def __init__(
        self, client: socket.socket, now: float, counters: Counters, faults: ActiveFaults
    ) -> None:
        self.client = client
        self.upstream: socket.socket | None = None
        self.connecting = False
        self.opened_at = now
        self.last_activity = now
        self.total = 0
        self.up = Direction("to_upstream")
        self.down = Direction("to_client")
        self.closed = False
        self.close_reason: str | None = None
        self.closing_kind: CloseKind | None = None
        self.wake_at: float | None = None
        self.timer_at: float | None = None  # earliest wake-up the loop has queued
        self.local: list[Fault] = []  # faults on this pair only, after the shared ones
        self._shared = faults
        self._counters = counters

    @property
    def ready(self) -> bool:
        return self.upstream is not None and not self.connecting

    def faults(self) -> tuple[Fault, ...]:
        """The faults that apply to this pair, in the order they are consulted."""
        shared = self._shared.items
        return (*shared, *self.local) if self.local else shared

    def frozen(self) -> bool:
        """A fault (blackhole) holds everything: no read, no write, no dial."""
        for fault in self.faults():  # noqa: SIM110 (no generator: this runs on every event)
            if fault.frozen(self):
                return True
        return False

    # -- reading ---------------------------------------------------------------

    def wants_read(self, d: Direction, frozen: bool) -> bool:
        if self.closed or d.eof or frozen:
            return False
        if d is self.down and not self.ready:
            return False
        for fault in self.faults():
            if not fault.may_read(self, d):
                return False
        return d.discard or d.buffered < HIGH_WATER

    def on_readable(self, d: Direction, now: float) -> None:
        src = self.client if d is self.up else self.upstream
        assert src is not None
        try:
            data = src.recv(CHUNK)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            self.abort("reset")
            return
        if not data:
            d.eof = True
            d.ending = True
            return
        self.last_activity = now
        size = len(data)
        if not d.discard:
            release = now
            for fault in self.faults():
                release, data = fault.on_data(self, d, release, data)
            if data:
                d.push(release, data)
        d.received += size

    # -- writing ---------------------------------------------------------------

    def flush(self, d: Direction, now: float) -> None:
        dst = self.upstream if d is self.up else self.client
        if self.closed or dst is None or not self.ready:
            return
        if self.frozen():
            return
        faults = self.faults()
        while d.chunks:
            release, data = d.chunks[0]
            if release > now:
                self.wake(release)
                return
            if d.next_send > now:
                self.wake(d.next_send)
                return
            size = len(data)
            for fault in faults:
                size = fault.send_limit(self, d, size)
                if self.is_closed():  # a fault closed it
                    return
            if size <= 0:
                return  # the fault that allowed nothing arranged a wake-up
            try:
                sent = dst.send(data[:size])
            except (BlockingIOError, InterruptedError):
                d.want_write = True
                return
            except OSError:
                self.abort("reset")
                return
            d.want_write = sent < size
            self._account(d, sent, now)
            if sent == len(data):
                d.chunks.popleft()
            else:
                d.chunks[0] = (release, data[sent:])
            d.buffered -= sent
            for fault in faults:
                fault.on_sent(self, d, sent, now)
                if self.is_closed():  # a fault closed it
                    return
            if d.want_write:
                return
        if d.close_when_flushed:
            self.close("fin", "inject_and_close")
        elif d.ending and not d.shut:
            d.shut = True
            try:
                dst.shutdown(socket.SHUT_WR)
            except OSError:
                self.abort("reset")

    def _account(self, d: Direction, sent: int, now: float) -> None:
        self.total += sent
        self.last_activity = now
        if d is self.up:
            self._counters.to_upstream += sent
        else:
            self._counters.to_client += sent

    # -- time and lifecycle ----------------------------------------------------

    def wake(self, when: float) -> None:
        """Ask the loop to pump this pair again at ``when`` (the earliest ask wins)."""
        if self.wake_at is None or when < self.wake_at:
            self.wake_at = when

    def pump(self, now: float) -> None:
        """Apply time-based faults, move every byte that may move, detect the end."""
        self.wake_at = None
        if self.closed:
            return
        faults = self.faults()
        for fault in faults:
            fault.on_tick(self, now)
            if self.is_closed():  # a fault closed it
                return
        for d in (self.up, self.down):
            self.flush(d, now)
            if self.is_closed():  # flush may close (a fault's limit, a reset)
                return
        if self.up.eof and self.down.eof and self.up.shut and self.down.shut:
            self.close("fin", "both_closed")
            return
        if not self.up.chunks and not self.down.chunks:
            for fault in faults:
                fault.on_idle(self, now)
                if self.is_closed():  # a fault closed it
                    return

    def interest(self) -> list[tuple[socket.socket, bool, bool]]:
        """Return (socket, want read, want write) for each open socket."""
        if self.closed:
            return []
        frozen = self.frozen()
        result = [
            (self.client, self.wants_read(self.up, frozen), self.down.want_write and not frozen)
        ]
        if self.upstream is not None:
            if self.connecting:
                result.append((self.upstream, False, True))
            else:
                write = self.up.want_write and not frozen
                result.append((self.upstream, self.wants_read(self.down, frozen), write))
        return result

    def close(self, kind: CloseKind, reason: str) -> None:
        """Mark closed; the loop does the socket work (and the counting) per ``kind``."""
        if self.closed:
            return
        self.closed = True
        self.closing_kind = kind
        self.close_reason = reason

    def is_closed(self) -> bool:
        """``closed``, as a call: type checkers do not assume a hook left it unchanged."""
        return self.closed

    def abort(self, reason: str) -> None:
        self.close("rst", reason)

    def sockets(self) -> list[socket.socket]:
        return [s for s in (self.client, self.upstream) if s is not None]
