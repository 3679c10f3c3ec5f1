"""The proxy thread's selector loop: accept, dial, pump pairs, run timers and commands."""

# Theory of operation
# -------------------
# Everything that touches sockets runs on the loop thread.  Other threads
# talk to it through ``call(fn)``: the function is queued, the loop is woken
# through a socketpair, runs it between two selects, re-pumps every live pair
# (faults may have changed what may move) and then releases the caller.
# Each pair reports the selector events it wants and the time it next needs
# attention (latency, pacing, lifetime, idle); the loop keeps those in a heap.
# After every iteration that changed something the Condition is notified,
# which is what FaultProxy.wait_for blocks on.

from __future__ import annotations

import contextlib
import errno
import heapq
import itertools
import queue
import selectors
import socket
import threading
import time
from collections.abc import Callable
from typing import Any

from ._proxy_pair import Counters, Pair, hard_close
from .faults import ActiveFaults

LINGER = 5.0
COMMAND_TIMEOUT = 10.0


class Loop:
    """The proxy's selector loop and the state only it may touch."""

    def __init__(self, counters: Counters, close_log: list[str], cond: threading.Condition) -> None:
        self.faults = ActiveFaults()  # the switchable faults, shared by every pair
        self.counters = counters
        self.close_log = close_log
        self.cond = cond
        self.live: list[Pair] = []
        self._owner: dict[socket.socket, Pair] = {}
        self._registered: dict[socket.socket, int] = {}
        self._lingering: dict[socket.socket, float] = {}
        self._timers: list[tuple[float, int, Pair]] = []
        self._seq = itertools.count()
        self._commands: queue.SimpleQueue[tuple[Callable[[], object], list[Any]]]
        self._commands = queue.SimpleQueue()
        self._selector: selectors.BaseSelector | None = None
        self._listener: socket.socket | None = None
        self._wake_r: socket.socket | None = None
        self._wake_w: socket.socket | None = None
        self._thread: threading.Thread | None = None
        self._stopping = False
        self._done: list[threading.Event] = []  # commands applied, released after settling
        self.error: BaseException | None = None  # what crashed the loop thread, if anything
        self._upstream: tuple[int, Any] = (socket.AF_INET, ())

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def start(self, listener: socket.socket, family: int, address: Any) -> None:
        self._listener = listener
        self._upstream = (family, address)
        self._wake_r, self._wake_w = socket.socketpair()
        self._wake_r.setblocking(False)
        self._selector = selectors.DefaultSelector()
        self._selector.register(listener, selectors.EVENT_READ)
        self._selector.register(self._wake_r, selectors.EVENT_READ)
        name = listener.getsockname()
        where = name if isinstance(name, str) else name[1]
        self._thread = threading.Thread(target=self._run, name=f"FaultProxy-{where}", daemon=True)
        self._thread.start()

    def stop(self) -> bool:
        """Ask the thread to close everything and exit; True once it has."""
        thread = self._thread
        if thread is None:
            return True
        self._stopping = True
        self._wake()
        thread.join(COMMAND_TIMEOUT)
        return not thread.is_alive()

    def call(self, fn: Callable[[], object]) -> None:
        """Run ``fn`` on the loop thread and wait for it; re-raise what it raised."""
        self.check()
        if not self.running:
            fn()  # not started (or stopped): no thread races us
            return
        box: list[Any] = [threading.Event()]
        self._commands.put((fn, box))
        self._wake()
        if not box[0].wait(COMMAND_TIMEOUT):
            self.check()
            raise RuntimeError("FaultProxy thread did not apply a fault within 10 s")
        self.check()
        if len(box) > 1:
            raise box[1]

    def check(self) -> None:
        """Raise RuntimeError (caused by the original error) if the loop thread crashed."""
        if self.error is not None:
            raise RuntimeError(
                f"the FaultProxy thread crashed with {self.error!r}; this is a bug in "
                "shims.testing, please report it with the traceback"
            ) from self.error

    def clear_faults(self) -> None:
        """Remove every switchable fault and let what they held back leave at once."""
        self.faults.clear()
        now = time.monotonic()
        for pair in self.live:
            for d in (pair.up, pair.down):
                d.chunks = type(d.chunks)((min(r, now), b) for r, b in d.chunks)
                d.next_send = 0.0

    def _wake(self) -> None:
        if self._wake_w is not None:
            with contextlib.suppress(OSError):
                self._wake_w.send(b"x")

    # -- the loop ----------------------------------------------------------------

    def _run(self) -> None:
        assert self._selector is not None
        try:
            while not self._stopping:
                timeout = self._next_timeout()
                events = self._selector.select(timeout)
                now = time.monotonic()
                touched: set[Pair] = set()
                for key, mask in events:
                    self._dispatch(key.fileobj, mask, now, touched)  # type: ignore[arg-type]
                self._run_commands(touched)
                self._run_timers(now, touched)
                self._run_lingering(now)
                for pair in touched:
                    self._settle(pair, now)
                for event in self._done:  # only now is a fault's socket work really done
                    event.set()
                self._done.clear()
                with self.cond:
                    self.cond.notify_all()
        except BaseException as exc:  # a proxy bug: report it to the test, do not hang it
            self.error = exc
        finally:
            self._shutdown()

    def _next_timeout(self) -> float | None:
        deadlines = [t[0] for t in self._timers[:1]]
        if self._lingering:
            deadlines.append(min(self._lingering.values()))
        if not deadlines:
            return None
        return max(0.0, min(deadlines) - time.monotonic())

    def _dispatch(self, sock: socket.socket, mask: int, now: float, touched: set[Pair]) -> None:
        if sock is self._listener:
            self._accept(now, touched)
        elif sock is self._wake_r:
            with contextlib.suppress(OSError):
                sock.recv(4096)
        elif sock in self._lingering:
            self._drain_lingering(sock)
        else:
            pair = self._owner.get(sock)
            if pair is None or pair.closed:
                return
            touched.add(pair)
            if sock is pair.client:
                if mask & selectors.EVENT_WRITE:
                    pair.down.want_write = False
                if mask & selectors.EVENT_READ:
                    pair.on_readable(pair.up, now)
            elif pair.connecting:
                self._finish_connect(pair)
            else:
                if mask & selectors.EVENT_WRITE:
                    pair.up.want_write = False
                if mask & selectors.EVENT_READ and not pair.closed:
                    pair.on_readable(pair.down, now)

    def _accept(self, now: float, touched: set[Pair]) -> None:
        assert self._listener is not None
        for _ in range(64):
            try:
                client, _addr = self._listener.accept()
            except (BlockingIOError, InterruptedError):
                return
            except OSError:
                return
            client.setblocking(False)
            if client.family != socket.AF_UNIX:
                client.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            pair = Pair(client, now, self.counters, self.faults)
            self.counters.total += 1
            self.counters.live += 1
            self.live.append(pair)
            self._owner[client] = pair
            if not pair.frozen():
                self._dial(pair)
            touched.add(pair)

    def _dial(self, pair: Pair) -> None:
        family, address = self._upstream
        up = socket.socket(family, socket.SOCK_STREAM)
        up.setblocking(False)
        if family != socket.AF_UNIX:
            up.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        pair.upstream = up
        self._owner[up] = pair
        err = up.connect_ex(address)
        if err in (errno.EINPROGRESS, errno.EWOULDBLOCK, errno.EAGAIN):
            pair.connecting = True
        elif err:
            pair.close("fin", "upstream_refused")

    def _finish_connect(self, pair: Pair) -> None:
        assert pair.upstream is not None
        pair.connecting = False
        err = pair.upstream.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
        if err in (errno.ECONNRESET, errno.EPIPE):  # connected, then reset before we looked
            pair.abort("reset")
        elif err:
            pair.close("fin", "upstream_refused")

    def _run_commands(self, touched: set[Pair]) -> None:
        done = self._done
        while True:
            try:
                fn, box = self._commands.get_nowait()
            except queue.Empty:
                break
            try:
                fn()
            except BaseException as exc:  # handed to the caller's thread
                box.append(exc)
            done.append(box[0])
        if done:
            for pair in list(self.live):
                if pair.upstream is None and not pair.closed and not pair.frozen():
                    self._dial(pair)
                touched.add(pair)

    def _run_timers(self, now: float, touched: set[Pair]) -> None:
        while self._timers and self._timers[0][0] <= now:
            when, _seq, pair = heapq.heappop(self._timers)
            if pair.timer_at == when:
                pair.timer_at = None
            if not pair.closed:
                touched.add(pair)

    # -- settling a pair after it was touched -------------------------------------

    def _settle(self, pair: Pair, now: float) -> None:
        pair.pump(now)
        if pair.closed:
            self._release(pair)
            return
        for sock, read, write in pair.interest():
            mask = (selectors.EVENT_READ if read else 0) | (selectors.EVENT_WRITE if write else 0)
            self._register(sock, mask)
        wake = pair.wake_at
        if wake is not None and (pair.timer_at is None or wake < pair.timer_at):
            pair.timer_at = wake
            heapq.heappush(self._timers, (wake, next(self._seq), pair))

    def _register(self, sock: socket.socket, mask: int) -> None:
        assert self._selector is not None
        old = self._registered.get(sock, 0)
        if mask == old:
            return
        if not old:
            self._selector.register(sock, mask)
        elif not mask:
            self._selector.unregister(sock)
        else:
            self._selector.modify(sock, mask)
        if mask:
            self._registered[sock] = mask
        else:
            self._registered.pop(sock, None)

    def _release(self, pair: Pair) -> None:
        """Do the socket work of a closed pair: RST now, or FIN and linger."""
        self.live.remove(pair)
        for sock in pair.sockets():
            self._register(sock, 0)
            self._owner.pop(sock, None)
            if pair.closing_kind == "rst":
                hard_close(sock)
                continue
            connected = sock is pair.client or pair.ready
            try:
                if connected:
                    sock.shutdown(socket.SHUT_WR)
            except OSError:
                connected = False
            if connected:
                self._linger(sock)
            else:
                sock.close()
        # Counted after the FIN or RST left, so a wait on the count implies it.
        self.close_log.append(pair.close_reason or "?")
        self.counters.live -= 1
        self.counters.closed += 1

    def _linger(self, sock: socket.socket) -> None:
        assert self._selector is not None
        self._lingering[sock] = time.monotonic() + LINGER
        self._selector.register(sock, selectors.EVENT_READ)

    def _drain_lingering(self, sock: socket.socket) -> None:
        try:
            while sock.recv(65536):
                pass
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            pass
        self._drop_lingering(sock)

    def _drop_lingering(self, sock: socket.socket) -> None:
        assert self._selector is not None
        del self._lingering[sock]
        self._selector.unregister(sock)
        sock.close()

    def _run_lingering(self, now: float) -> None:
        for sock, deadline in list(self._lingering.items()):
            if deadline <= now:
                self._drop_lingering(sock)

    def _shutdown(self) -> None:
        for pair in list(self.live):
            pair.close("rst", "proxy_stopped")
            self._release(pair)
        for sock in list(self._lingering):
            self._drop_lingering(sock)
        for own in (self._listener, self._wake_r, self._wake_w):
            if own is not None:
                own.close()
        if self._selector is not None:
            self._selector.close()
        for event in self._done:
            event.set()
        while True:  # release anyone still waiting on a command
            try:
                _fn, box = self._commands.get_nowait()
            except queue.Empty:
                break
            box.append(RuntimeError("FaultProxy was stopped"))
            box[0].set()
        with self.cond:
            self.cond.notify_all()
