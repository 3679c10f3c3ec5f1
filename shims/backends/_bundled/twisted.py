"""The ``twisted`` backend: the shim on Twisted's default (non-asyncio) reactor (extra ``[twisted]``).

Written only against the public ``shims.backends`` API: it is the worked
example of docs/backends.md for a company's own scheduler.

Theory of operation.

*The singleton reactor.* Twisted's reactor is process-wide and cannot be
restarted once it stopped, while ``shims.run`` is called many times per
process (once per parity test). Iterating the reactor per run
(``reactor.iterate``) would leave it half-started between runs, and its
thread pool, resolver and shutdown triggers assume a running reactor. So,
as crochet does, the reactor is started once, on first use, in a daemon
thread with ``installSignalHandlers=False`` (signals belong to the main
thread), and never stopped until the process exits. A process whose
application runs the reactor itself (``twistd``, ``trial``, its own
``reactor.run()``) needs no ``shims.run``: code in the reactor's thread is
served on that reactor (``running()`` is true there), so a Twisted service
can move to the shim one call at a time; ``shims.run(backend="twisted")``
is refused in such a process. Each ``run`` hands its
main coroutine to that thread with ``callFromThread`` and blocks until it
finished (``blockingCallFromThread``-style, but interruptible: Ctrl-C or a
pytest-timeout cancels the main task). Runs are serialised by a lock, so
``close_leftovers`` and leftover-task cancellation at the end of one run
never touch another run's connections.

*Tasks.* A task is ``Deferred.fromCoroutine`` over a small generator
(``_drive``) that records the current task (for ``shims.timeout``) and turns
Twisted's ``CancelledError`` (an ``Exception``) into ``Cancelled``, a
subclass of ``asyncio.CancelledError``, when the task was cancelled, so
``except shims.CANCELLED:`` and ``finally`` behave as on asyncio. A task
starts on the reactor's next turn, as asyncio schedules its tasks. Errors of
tasks nobody retrieved are reported when the run ends.

*Futures and timers.* A future is awaited through a one-shot ``Deferred``
that only wakes the awaiting task, on the reactor's next turn: a ``Deferred``
would resume its awaiter synchronously, inside ``set_result``, and the
neutral code (like asyncio) expects the caller of ``set_result`` to finish
first. Done callbacks of tasks run on the next turn too. Cancelling the
awaiting task cancels the future, as asyncio does. Errors Twisted only logs
(a protocol callback that raised) are reported as unhandled, like a failed
task nobody awaited. Timers are ``reactor.callLater``; their handle's ``cancel``
is idempotent.

*Connections.* A Twisted ``Protocol`` providing ``IHalfCloseableProtocol``:
``readConnectionLost`` is the peer's FIN (the transport stays open for our
writes), ``connectionLost(Failure(ConnectionDone))`` an orderly end and
``Failure(ConnectionLost)`` (ECONNRESET, EPIPE) a reset. Backpressure: the
adapter registers itself with the transport as a streaming ``IPushProducer``
and flushes each write at once (``doWrite``); bytes the kernel did not take
pause it (as the transport itself does above ``bufferSize``), and the
transport calls ``resumeProducing`` once its buffer is empty: the facts "not
everything is in the kernel" and "every byte is in the kernel". Because
Twisted never closes a transport that has a registered producer, ``close``
and ``write_eof`` unregister it first.

*Unix sockets.* Twisted's own Unix transport and port, corrected where they
differ from the other backends: ``dial_unix`` connects with the neutral
``connect_unix_socket`` (``connectUNIX`` fails at once on a full backlog)
and hands the socket to ``adoptStreamConnection``; ``listen_unix`` uses the
port ``listenUNIX`` builds, with the neutral backlog, the file mode a plain
``bind()`` gives (not 0o666) and the socket file left to ``shims.Server``.
"""

from __future__ import annotations

import asyncio
import contextvars
import os
import socket
import sys
import threading
from collections.abc import Awaitable, Callable, Coroutine, Generator
from typing import Any, Generic, Literal, TypeVar

from shims import ConnectError, Connection, ConnectTimeout, FlagError
from shims.backends import (
    UNIX_BACKLOG,
    Backend,
    Clock,
    Facts,
    Listener,
    Task,
    connect_unix_socket,
    new_connection,
    peer_address,
    register,
    socket_file_mode,
    unix_listen_error,
)

__all__ = ["Cancelled", "TwistedBackend"]

T = TypeVar("T")


class Cancelled(asyncio.CancelledError):
    """What a cancelled task sees on the twisted backend (one of ``shims.CANCELLED``)."""


_PENDING, _DONE, _FAILED, _CANCELLED = range(4)
_current: _Task[Any] | None = None  # the task whose coroutine is executing (reactor thread)
_active: _Run | None = None  # the run in progress (runs are serialised)
_REACTOR: Any = None


def _reactor() -> Any:
    global _REACTOR
    if _REACTOR is None:
        from twisted.internet import reactor

        _forget_abc_provides()
        _REACTOR = reactor
    return _REACTOR


def _forget_abc_provides() -> None:
    """Take back the ``__provides__`` that importing the reactor leaves on ``abc.ABC``.

    ``@implementer(IConnector)`` on ``twisted.internet.base.BaseConnector(ABC)``
    makes zope.interface compute ``implementedBy(ABC)``, which stores a
    class-provides descriptor on ``abc.ABC`` itself. Read from an instance it
    raises AttributeError, so in this process ``getattr(obj, "__provides__")``
    fails for every instance of every ABC subclass, and code that walks
    ``dir(obj)`` with ``getattr`` (libcst's matcher transformers, hence every
    libcst codemod constructed after a twisted run) breaks. zope.interface
    does not need it there: ``__implemented__`` stays, and the class-provides
    lookup falls back to the metaclass's declaration without it.
    """
    import abc

    if "__provides__" in vars(abc.ABC) and "__provides__" not in vars(object):
        del abc.ABC.__provides__  # type: ignore[attr-defined]


class _Future:
    """The contract's ``Waiter``: a result slot, awaited through a one-shot ``Deferred``."""

    __slots__ = ("_state", "_value", "_wakes")

    def __init__(self) -> None:
        self._state = _PENDING
        self._value: Any = None
        self._wakes: list[Any] | None = None  # one Deferred per awaiter

    def done(self) -> bool:
        return self._state != _PENDING

    def cancelled(self) -> bool:
        return self._state == _CANCELLED

    def _settle(self, state: int, value: Any) -> None:
        if self._state != _PENDING:
            raise RuntimeError(f"future already finished (state {self._state})")
        self._state, self._value = state, value
        if self._wakes:
            _reactor().callLater(0, self._wake_up)

    def _wake_up(self) -> None:
        wakes, self._wakes = self._wakes, None
        for wake in wakes or ():
            if not wake.called:
                wake.callback(None)

    def set_result(self, result: Any, /) -> None:
        self._settle(_DONE, result)

    def set_exception(self, exception: BaseException, /) -> None:
        self._settle(_FAILED, exception)

    def cancel(self) -> bool:
        if self._state != _PENDING:
            return False
        self._settle(_CANCELLED, None)
        return True

    def result(self) -> Any:
        if self._state == _DONE:
            return self._value
        if self._state == _FAILED:
            raise self._value
        if self._state == _CANCELLED:
            raise Cancelled("the future was cancelled")
        raise RuntimeError("the future is not done yet")

    def _awaiter_cancelled(self, wake: Any) -> None:
        if self._state == _PENDING:  # the awaiting task was cancelled: so is what it awaited
            self._settle(_CANCELLED, None)

    def __await__(self) -> Generator[Any, None, Any]:
        if self._state == _PENDING:
            from twisted.internet.defer import Deferred

            wake: Any = Deferred(self._awaiter_cancelled)
            if self._wakes is None:
                self._wakes = []
            self._wakes.append(wake)
            yield from wake.__await__()
        return self.result()


class _Timer:
    __slots__ = ("_call",)

    def __init__(self, call: Any) -> None:
        self._call = call

    def cancel(self) -> None:
        if self._call.active():
            self._call.cancel()


class _Clock:
    """The contract's ``Clock`` on the reactor."""

    def create_future(self) -> _Future:
        return _Future()

    def call_later(self, delay: float, callback: Callable[..., object], *args: Any) -> _Timer:
        return _Timer(_reactor().callLater(max(delay, 0.0), callback, *args))

    def call_soon_threadsafe(self, callback: Callable[..., object], *args: Any) -> None:
        _reactor().callFromThread(callback, *args)  # telemetry's loop-lag probe


def _drive(task: _Task[T], coro: Coroutine[Any, Any, T]) -> Generator[Any, Any, T]:
    """Run ``coro`` for ``Deferred.fromCoroutine``: track the current task, map cancellation."""
    global _current
    from twisted.internet.defer import Deferred

    value: Any = None
    error: BaseException | None = None
    while True:
        previous, _current = _current, task
        try:
            yielded = coro.send(value) if error is None else coro.throw(error)
        except StopIteration as stop:
            return stop.value  # type: ignore[no-any-return]
        finally:
            _current = previous
        if task._must_cancel:  # it cancelled itself while running: cancel at this await
            task._must_cancel, task._cancel_delivered = False, True
            if isinstance(yielded, Deferred):
                yielded.addErrback(lambda _: None)  # what it awaited is cancelled, not failed
                yielded.cancel()
            value, error = None, Cancelled("the task was cancelled")
            continue
        try:
            value, error = (yield yielded), None
        except GeneratorExit:
            coro.close()
            raise
        except BaseException as exc:
            value, error = None, exc
            if task._cancel_requested and not task._cancel_delivered:
                # What the awaited Deferred failed with because we cancelled it
                # (CancelledError, ConnectingCancelledError...): the task's cancellation.
                task._cancel_delivered = True
                error = Cancelled("the task was cancelled")
                error.__cause__ = exc


class _Task(_Future, Generic[T]):
    """The contract's ``Task``: a coroutine on the reactor, started on its next turn."""

    __slots__ = (
        "_callbacks",
        "_cancel_delivered",
        "_cancel_requested",
        "_coro",
        "_d",
        "_must_cancel",
        "_run",
        "_unreported",
    )

    def __init__(self, coro: Coroutine[Any, Any, T], run: _Run) -> None:
        super().__init__()
        self._unreported = False
        self._coro = coro
        self._d: Any = None
        self._run = run
        self._callbacks: list[Callable[[Any], object]] = []
        self._cancel_requested = False
        self._cancel_delivered = False
        self._must_cancel = False
        run.tasks.add(self)
        _reactor().callLater(0, contextvars.copy_context().run, self._start)

    def _start(self) -> None:
        from twisted.internet.defer import Deferred

        if self._cancel_requested:  # cancelled before it ran: it never starts, as on asyncio
            self._coro.close()
            self._finish(_CANCELLED, Cancelled("the task was cancelled before it started"))
            return
        self._d = Deferred.fromCoroutine(_drive(self, self._coro))
        self._d.addCallbacks(self._succeeded, self._failed)

    def _succeeded(self, value: Any) -> None:
        self._finish(_DONE, value)

    def _failed(self, failure: Any) -> None:
        exc = failure.value
        if isinstance(exc, asyncio.CancelledError) and self._cancel_requested:
            self._finish(_CANCELLED, exc)
        else:
            self._finish(_FAILED, exc)

    def _finish(self, state: int, value: Any) -> None:
        self._state, self._value = state, value
        self._d = None
        self._run.tasks.discard(self)
        if state == _FAILED and not isinstance(value, asyncio.CancelledError):
            if self._run is _OUTSIDE_RUNS:
                self._unreported = True  # reported when collected unretrieved, as asyncio does
            else:
                self._run.unretrieved.add(self)
        if self._wakes or self._callbacks:
            _reactor().callLater(0, self._notify)

    def _notify(self) -> None:
        self._wake_up()
        callbacks, self._callbacks = self._callbacks, []
        for cb in callbacks:
            cb(self)

    def _retrieve(self) -> None:
        self._unreported = False
        self._run.unretrieved.discard(self)

    def __del__(self) -> None:
        if self._unreported:
            self._run.on_unhandled(self._value)

    def cancel(self) -> bool:
        if self._state != _PENDING:
            return False
        self._cancel_requested = True
        self._cancel_delivered = False
        if _current is self:
            self._must_cancel = True  # running now: Twisted can only cancel what it awaits
        elif self._d is not None:
            self._d.cancel()
        return True

    def result(self) -> Any:
        self._retrieve()
        if self._state == _CANCELLED:
            raise self._value if isinstance(self._value, Cancelled) else Cancelled("cancelled")
        return super().result()

    def exception(self) -> BaseException | None:
        if self._state == _PENDING:
            raise RuntimeError("the task is not done yet")
        self._retrieve()
        if self._state == _CANCELLED:
            raise Cancelled("the task was cancelled")
        return self._value if self._state == _FAILED else None

    def add_done_callback(self, fn: Callable[[Any], object], /) -> None:
        if self._state == _PENDING:
            self._callbacks.append(fn)
        else:
            _reactor().callLater(0, fn, self)

    def _awaiter_cancelled(self, wake: Any) -> None:
        self.cancel()  # cancelling a task that awaits a task cancels the awaited one (asyncio)

    def __repr__(self) -> str:
        return f"<twisted Task {getattr(self._coro, '__qualname__', self._coro)!r}>"


class _Run:
    """What one ``shims.run`` owns on the reactor: its tasks and its unretrieved errors."""

    def __init__(self, on_unhandled: Callable[[BaseException], None]) -> None:
        self.on_unhandled = on_unhandled
        self.tasks: set[_Task[Any]] = set()
        self.unretrieved: set[_Task[Any]] = set()


def _log_unhandled(exc: BaseException) -> None:
    """Log through Twisted, as it logs a Deferred's unhandled error (trial fails the test)."""
    from twisted.logger import Logger
    from twisted.python.failure import Failure

    Logger(namespace="shims").failure(
        "a shims task failed and nobody retrieved its error",
        Failure(exc),  # type: ignore[no-untyped-call]
    )


# Tasks spawned outside any run: by protocol callbacks, or on a reactor the application
# runs itself. Their unretrieved errors are logged when the task is collected.
_OUTSIDE_RUNS = _Run(_log_unhandled)


# -- connections ---------------------------------------------------------------------------


class _Transport:
    """The contract's ``Transport`` over a Twisted TCP transport, and its write producer."""

    def __init__(self, transport: Any) -> None:
        self._t = transport
        self.facts: Facts | None = None
        self._producing = True
        self._paused = False

    # IPushProducer, registered with the transport: write backpressure.
    def pauseProducing(self) -> None:
        if not self._paused and self.facts is not None:
            self._paused = True
            self.facts.pause_writing()

    def resumeProducing(self) -> None:
        if self._paused and self.facts is not None:
            self._paused = False
            self.facts.resume_writing()

    def stopProducing(self) -> None:
        pass

    def write(self, data: bytes | bytearray | memoryview, /) -> None:
        t = self._t
        if not t.connected or t.disconnecting:
            return
        t.write(data if type(data) is bytes else bytes(data))
        if isinstance(t.doWrite(), Exception):  # hand it to the kernel now, as asyncio does
            # The send failed (EPIPE: a Unix peer that is gone). The writer stays
            # registered, so the reactor reports the loss on its next turn: the write
            # itself returns, as a failed send does on asyncio and legacy.
            return
        if len(t.dataBuffer) > t.offset and not self._paused:
            # Bytes the kernel did not take: pause us, and mark the producer paused so the
            # transport resumes it once its buffer is empty (not only above bufferSize).
            t.producerPaused = True
            self.pauseProducing()

    def _unregister(self) -> None:
        if self._producing:
            self._producing = False
            self._t.unregisterProducer()  # Twisted keeps a transport with a producer open

    def write_eof(self) -> None:
        self._unregister()
        self._t.loseWriteConnection()

    def is_closing(self) -> bool:
        return bool(self._t.disconnecting or not self._t.connected)

    def close(self) -> None:
        self._unregister()
        self._t.loseConnection()

    def abort(self) -> None:
        self._unregister()
        self._t.abortConnection()

    def pause_reading(self) -> None:
        self._t.pauseProducing()

    def resume_reading(self) -> None:
        self._t.resumeProducing()

    def get_extra_info(self, name: str, default: Any = None, /) -> Any:
        if name == "socket":
            return self._t.getHandle()
        address = {"peername": self._t.getPeer, "sockname": self._t.getHost}.get(name)
        return default if address is None else _sockaddr(address())


def _sockaddr(address: Any) -> Any:
    """A Twisted address as ``socket`` (and asyncio) gives it: ``(host, port)`` or a Unix path."""
    if hasattr(address, "host"):  # IPv4Address, IPv6Address
        return address.host, address.port
    return os.fsdecode(address.name or b"")  # UNIXAddress; an accepted client is unnamed


def _lost(reason: Any) -> BaseException | None:
    """Map Twisted's ``connectionLost`` reason onto the contract's fact."""
    from twisted.internet.error import ConnectionDone, ConnectionLost

    if reason.check(ConnectionDone):
        return None
    if reason.check(ConnectionLost):  # ECONNRESET, EPIPE: what Twisted reports for a reset
        return ConnectionResetError(f"connection reset ({reason.value})")
    return reason.value  # type: ignore[no-any-return]


_PROTOCOL: Any = None


def _protocol_class() -> Any:
    """Build the ``Protocol`` class on first use (importing this module imports no Twisted)."""
    global _PROTOCOL
    if _PROTOCOL is None:
        from twisted.internet.interfaces import IHalfCloseableProtocol, IPushProducer
        from twisted.internet.protocol import Protocol
        from zope.interface import classImplements, implementer

        classImplements(_Transport, IPushProducer)

        @implementer(IHalfCloseableProtocol)
        class ShimProtocol(Protocol):
            def __init__(
                self,
                initiated_by: Literal["local", "peer"],
                duplex: bool,
                on_made: Any,
                peer: tuple[str, int] | None,
            ) -> None:
                self._initiated_by = initiated_by
                self._duplex = duplex
                self._on_made = on_made
                self._peer = peer
                self.facts: Facts | None = None

            def connectionMade(self) -> None:
                t: Any = self.transport
                t.setTcpNoDelay(True)  # a no-op on Unix transports
                adapter = _Transport(t)
                facts = adapter.facts = self.facts = new_connection(
                    adapter, initiated_by=self._initiated_by, duplex=self._duplex, peer=self._peer
                )
                t.registerProducer(adapter, True)
                self.dataReceived = facts.data_received  # type: ignore[assignment,method-assign]
                if self._on_made is not None:
                    self._on_made(facts.connection)

            def dataReceived(self, data: bytes) -> None:
                if self.facts is not None:
                    self.facts.data_received(data)

            def readConnectionLost(self) -> None:
                if self.facts is not None:
                    self.facts.eof_received()

            def writeConnectionLost(self) -> None:
                pass  # our own FIN: the connection already knows

            def connectionLost(self, reason: Any = None) -> None:
                if self.facts is not None:
                    self.facts.connection_lost(_lost(reason))

        _PROTOCOL = ShimProtocol
    return _PROTOCOL


def _factory(
    initiated_by: Literal["local", "peer"],
    duplex: bool,
    on_made: Any,
    peer: tuple[str, int] | None = None,
) -> Any:
    from twisted.internet.protocol import Factory

    protocol = _protocol_class()
    return Factory.forProtocol(lambda: protocol(initiated_by, duplex, on_made, peer))


_UNIX_PORT: Any = None


def _unix_port_class() -> Any:
    """Build, on first use, the Unix port class: ``listenUNIX``'s, leaving the file to shims."""
    global _UNIX_PORT
    if _UNIX_PORT is None:
        from twisted.internet import tcp, unix

        class UnixPort(unix.Port):
            made: socket.socket | None = None

            def createInternetSocket(self) -> socket.socket:
                self.made = super().createInternetSocket()  # type: ignore[no-untyped-call]
                return self.made  # closed by listen_unix if bind() fails

            def connectionLost(self, reason: Any) -> None:
                # unix.Port's own removes the file one reactor turn after close(): by then
                # shims.Server removed it (only while it was still its own), or a newer
                # server listens at that path. Close the socket as a TCP port does.
                tcp.Port.connectionLost(self, reason)  # type: ignore[no-untyped-call]

        _UNIX_PORT = UnixPort
    return _UNIX_PORT


class _Listener:
    def __init__(self, port: Any) -> None:
        self._port = port
        self.host, self.port = peer_address(_sockaddr(port.getHost()), lambda: None)
        self._stopped: _Future | None = None

    def close(self) -> None:
        if self._stopped is None:
            stopped = self._stopped = _Future()
            self._port.stopListening().addBoth(lambda _: stopped.set_result(None))

    async def wait_closed(self) -> None:
        if self._stopped is not None:
            await self._stopped


# -- the backend ---------------------------------------------------------------------------


class TwistedBackend(Backend):
    """The shim on Twisted's default reactor, run once in a dedicated thread."""

    requires = ("twisted",)
    install_hint = "pip install 'migrate-toolkit[twisted]'"
    parity_default = False  # opt in (--backends ...,twisted): never imported otherwise
    cancelled = Cancelled

    def __init__(self) -> None:
        self._thread: threading.Thread | None = None
        self._pid = os.getpid()  # the process whose thread runs the reactor
        self._start_lock = threading.Lock()
        self._run_lock = threading.Lock()
        self._clock = _Clock()

    def _ensure_reactor(self) -> Any:
        with self._start_lock:
            reactor = _reactor()
            if self._thread is not None and self._pid != os.getpid():
                # fork() copied the reactor mid-iteration and no thread drives it here.
                raise FlagError(
                    "backend 'twisted' cannot run in a process forked from one whose reactor "
                    "was started (Twisted's reactor cannot be restarted); run the child on "
                    "another backend, or start it with exec (subprocess, reactor.spawnProcess)"
                )
            if self._thread is not None and self._thread.is_alive():
                return reactor
            if reactor.running or getattr(reactor, "_started", False):
                raise FlagError(
                    "backend 'twisted' needs Twisted's reactor, but it was already started "
                    "outside shims (it cannot be restarted); call shims from the reactor's "
                    "thread without shims.run, or do not run the reactor yourself"
                )
            from twisted.logger import globalLogPublisher

            globalLogPublisher.addObserver(_report_logged_failure)  # type: ignore[arg-type]  # a callable is an ILogObserver
            started = threading.Event()
            reactor.callWhenRunning(started.set)
            self._pid = os.getpid()
            self._thread = threading.Thread(
                target=reactor.run,
                kwargs={"installSignalHandlers": False},
                name="shims-twisted-reactor",
                daemon=True,
            )
            self._thread.start()
            started.wait()
            return reactor

    # -- the runtime half ----------------------------------------------------------------

    def run(
        self, main: Coroutine[Any, Any, T], *, on_unhandled: Callable[[BaseException], None]
    ) -> T:
        try:
            reactor = self._ensure_reactor()
        except BaseException:
            main.close()
            raise
        with self._run_lock:
            run = _Run(on_unhandled)
            finished = threading.Event()
            box: list[_Task[T]] = []

            def start() -> None:
                global _active
                _active = run
                task = _Task(main, run)
                box.append(task)
                task.add_done_callback(_main_done)

            def _main_done(task: _Task[T]) -> None:
                task._retrieve()  # run() hands main's outcome to its caller
                _wind_down(run, finished.set)

            reactor.callFromThread(contextvars.Context().run, start)
            try:
                while not finished.wait(0.05):
                    pass
            except BaseException:  # Ctrl-C, a test timeout: cancel main, let it unwind
                reactor.callFromThread(lambda: box and box[0].cancel())
                finished.wait(5.0)
                raise
            return box[0].result()  # type: ignore[no-any-return]

    def running(self) -> bool:
        # After fork() the child's only thread is the copy of the reactor's: not running.
        if threading.current_thread() is self._thread:
            return os.getpid() == self._pid
        # A reactor the application runs itself (twistd, trial, its own reactor.run()):
        # code in its I/O thread is served on it too, without shims.run, from its first
        # run until it is stopped for good (trial's crash() between tests is not that).
        reactor = sys.modules.get("twisted.internet.reactor")
        if self._thread is not None or reactor is None or reactor._startedBefore:
            return False
        from twisted.python import threadable

        return bool(threadable.isInIOThread())  # type: ignore[no-untyped-call]

    def clock(self) -> Clock:
        return self._clock

    def sleep(self, seconds: float) -> Awaitable[None]:
        return _sleep(seconds)

    def spawn(self, coro: Coroutine[Any, Any, T]) -> Task[T]:
        return _Task(coro, _active or _OUTSIDE_RUNS)

    def current_task(self) -> Task[Any] | None:
        return _current

    # -- the connection half -------------------------------------------------------------

    async def dial(
        self,
        host: str,
        port: int,
        *,
        timeout: float | None,  # noqa: ASYNC109
        duplex: bool,
    ) -> Connection:
        """Resolve (``socket.getaddrinfo`` in the reactor's thread pool, unless numeric) and
        connect, trying each address in turn; ``timeout`` covers both."""
        from twisted.internet.defer import CancelledError
        from twisted.internet.error import ConnectingCancelledError

        reactor = _reactor()
        waiting: list[Any] = [None]  # the Deferred the deadline cancels
        expired = False

        def expire() -> None:
            nonlocal expired
            expired = True
            if waiting[0] is not None:
                waiting[0].cancel()

        timer = None if timeout is None else reactor.callLater(max(timeout, 0.0), expire)
        try:
            protocol = await _dial(host, port, _factory("local", duplex, None), waiting)
        except (CancelledError, ConnectingCancelledError) as exc:
            if not expired:
                raise
            deadline = TimeoutError(f"the connect deadline of {timeout!r} s passed")
            deadline.__cause__ = exc
            raise ConnectTimeout(
                f"connect to {host!r} port {port!r} did not complete within timeout={timeout!r} s"
            ) from deadline
        except OSError as exc:  # socket.gaierror: the lookup failed
            raise ConnectError(f"could not resolve {host!r} port {port!r}: {exc}") from exc
        except Exception as exc:
            raise ConnectError(
                f"could not connect to {host!r} port {port!r}: {exc}"
            ) from _native_error(exc)
        finally:
            if timer is not None and timer.active():
                timer.cancel()
        assert protocol.facts is not None
        return protocol.facts.connection  # type: ignore[no-any-return]

    async def listen(
        self, host: str, port: int, *, duplex: bool, on_accept: Callable[[Connection], object]
    ) -> Listener:
        from twisted.internet.error import CannotListenError

        try:
            *_, address = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0]
            listening = _reactor().listenTCP(
                port, _factory("peer", duplex, on_accept), backlog=512, interface=address[0]
            )
        except OSError as exc:  # the name lookup
            raise ConnectError(f"could not listen on {host!r} port {port!r}: {exc}") from exc
        except CannotListenError as exc:
            native = exc.socketError if isinstance(exc.socketError, OSError) else exc
            if native is not exc:
                native.__cause__ = exc
            raise ConnectError(f"could not listen on {host!r} port {port!r}: {native}") from native
        return _Listener(listening)

    async def dial_unix(
        self,
        path: str,
        *,
        timeout: float | None,  # noqa: ASYNC109
        duplex: bool,
    ) -> Connection:
        """Connect with ``connect_unix_socket``, then hand the socket to Twisted's Unix transport.

        ``reactor.connectUNIX`` cannot be used: on a listener whose backlog is
        full it fails at once with ``ConnectionDone`` instead of retrying, so
        the neutral helper connects (retrying under ``timeout``) and
        ``adoptStreamConnection`` makes the same ``twisted.internet.unix``
        transport ``connectUNIX`` would have made.
        """
        where = f"Unix socket {path!r}"
        try:
            sock = await self.wait_for(connect_unix_socket(path, _sleep), timeout)
        except TimeoutError as exc:  # the deadline (an OSError too: caught first)
            raise ConnectTimeout(
                f"connect to {where} did not complete within timeout={timeout!r} s"
            ) from exc
        except OSError as exc:
            raise ConnectError(f"could not connect to {where}: {exc.strerror or exc}") from exc
        made: list[Connection] = []
        try:  # Twisted works on its own duplicate of the descriptor
            _reactor().adoptStreamConnection(
                sock.fileno(), socket.AF_UNIX, _factory("local", duplex, made.append, (path, 0))
            )
        finally:
            sock.close()
        return made[0]

    async def listen_unix(
        self, path: str, *, duplex: bool, on_accept: Callable[[Connection], object]
    ) -> Listener:
        """Listen with Twisted's Unix port, as on the other backends: same backlog, same file mode.

        ``listenUNIX`` would make the file world-connectable (mode 0o666) and
        remove it when it stops listening; the port here takes the mode a
        plain ``bind()`` gives and leaves the file to ``shims.Server``.
        """
        from twisted.internet.error import CannotListenError

        port = _unix_port_class()(
            os.fsencode(path),
            _factory("peer", duplex, on_accept),
            backlog=UNIX_BACKLOG,
            mode=socket_file_mode(),
            reactor=_reactor(),
        )
        try:
            port.startListening()
        except (CannotListenError, OSError) as exc:
            if port.made is not None:
                port.made.close()
            native = getattr(exc, "socketError", exc)
            native = native if isinstance(native, OSError) else OSError(str(exc))
            if native is not exc:
                native.__cause__ = exc
            raise unix_listen_error(path, native) from native
        return _Listener(port)


async def _dial(host: str, port: int, factory: Any, waiting: list[Any]) -> Any:
    from twisted.internet.endpoints import TCP4ClientEndpoint, TCP6ClientEndpoint
    from twisted.internet.threads import deferToThread

    reactor = _reactor()
    if _is_ip(host):
        addresses = [host]
    else:
        waiting[0] = deferToThread(socket.getaddrinfo, host, port, type=socket.SOCK_STREAM)
        addresses = list(dict.fromkeys(info[4][0] for info in await waiting[0]))
    last: BaseException | None = None
    for address in addresses:
        endpoint = (TCP6ClientEndpoint if ":" in address else TCP4ClientEndpoint)(
            reactor, address, port, timeout=3600
        )
        waiting[0] = endpoint.connect(factory)
        try:
            return await waiting[0]
        except Exception as exc:
            if not hasattr(exc, "osError"):
                raise  # cancelled: the deadline or the task
            last = exc
    assert last is not None  # getaddrinfo never returns an empty list
    raise last


def _is_ip(host: str) -> bool:
    for family in (socket.AF_INET, socket.AF_INET6):
        try:
            socket.inet_pton(family, host)
        except (OSError, ValueError):
            continue
        return True
    return False


def _native_error(exc: BaseException) -> BaseException:
    """Return the ``OSError`` behind a Twisted connect error (the cause asyncio would give)."""
    number = getattr(exc, "osError", None)
    if not isinstance(number, int):
        return exc
    native = OSError(number, os.strerror(number))  # ConnectionRefusedError for ECONNREFUSED...
    native.__cause__ = exc
    return native


async def _sleep(seconds: float) -> None:
    done = _Future()
    call = _reactor().callLater(max(seconds, 0.0), done.set_result, None)
    try:
        await done
    finally:
        if call.active():
            call.cancel()


def _report_logged_failure(event: dict[str, Any]) -> None:
    """Errors Twisted only logs (a raising protocol callback...) go to the run's diagnostics."""
    failure = event.get("log_failure") or event.get("failure")  # new-style or legacy log
    run = _active
    if failure is not None and run is not None:
        run.on_unhandled(failure.value)


def _wind_down(run: _Run, then: Callable[[], object]) -> None:
    """After main finished: cancel the run's leftover tasks, wait for them, report errors."""

    def report() -> None:
        global _active
        if _active is run:
            _active = None
        for task in list(run.unretrieved):
            run.unretrieved.discard(task)
            run.on_unhandled(task._value)
        then()

    left = [t for t in run.tasks if not t.done()]
    if not left:
        report()
        return
    remaining = len(left)

    def one_done(_: Any) -> None:
        nonlocal remaining
        remaining -= 1
        if remaining == 0:
            report()

    for task in left:
        task.cancel()
        task.add_done_callback(one_done)


register("twisted", TwistedBackend())
