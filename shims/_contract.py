"""The backend contract: the few primitives and facts a scheduler supplies to the shim.

Theory of operation (httpcore style): a backend knows how to run coroutines,
keep time and move bytes, nothing more. Everything a user can observe about a
connection (state, close reason, which error a call raises, timeouts,
unread-data policy, the pool) is decided once, in backend-neutral code, from
what the backend supplies:

- the runtime half (``Backend``): ``run`` a main coroutine to completion on a
  scheduler, ``running`` (is it running the calling thread), ``clock`` (the
  scheduler's futures and timers), ``sleep``, ``spawn``, ``current_task`` and
  ``cancelled`` (the exception a cancelled task sees). ``gather``,
  ``wait_for`` and ``timeout`` have portable defaults built on those;
- the connection half: ``dial`` and ``listen``, which wrap each socket in a
  ``Transport`` and hand it to ``new_connection``; the returned ``Facts`` are
  what the backend's I/O callbacks call (data, EOF, loss, pause/resume
  writing);
- the liveness fact: the socket's file descriptor, which neutral code polls
  with a zero timeout (no round trip) to see an EOF or RST the scheduler has
  not read yet.

A backend object is registered under a name (``shims.backends.register`` or
the ``shims.backends`` entry-point group); the name it was selected by is
what ``shims.current_backend()`` reports.
"""

from __future__ import annotations

import abc
import importlib.util
from collections.abc import Awaitable, Callable, Coroutine, Generator, Iterable
from types import TracebackType
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

if TYPE_CHECKING:
    from ._connection import Connection

__all__ = ["Backend", "Clock", "Handle", "Listener", "Task", "Transport", "Waiter"]

T = TypeVar("T")
T_co = TypeVar("T_co", covariant=True)


class Transport(Protocol):
    """Byte pipe a backend gives the neutral ``Connection``; never raises for a closed pipe.

    ``write_eof`` half-closes (with nothing queued the neutral code shuts the
    socket down itself, so the FIN is in the kernel when ``shutdown_write``
    returns); ``is_closing`` says whether the transport may no longer own its
    descriptor (never a liveness signal); ``close`` flushes then closes,
    ``abort`` drops unsent data (RST if the kernel still holds some);
    ``get_extra_info`` answers ``"socket"``, ``"peername"``, ``"sockname"``
    like asyncio's transports (and later kinds, e.g. TLS, add their keys).
    """

    def write(self, data: bytes | bytearray | memoryview, /) -> None: ...
    def write_eof(self) -> None: ...
    def is_closing(self) -> bool: ...
    def close(self) -> None: ...
    def abort(self) -> None: ...
    def pause_reading(self) -> None: ...
    def resume_reading(self) -> None: ...
    def get_extra_info(self, name: str, default: Any = None, /) -> Any: ...


class Handle(Protocol):
    """A timer handle."""

    def cancel(self) -> None: ...


class Waiter(Protocol):
    """The part of a backend future the neutral code uses."""

    def done(self) -> bool: ...
    def cancelled(self) -> bool: ...
    def cancel(self) -> bool | None: ...
    def set_result(self, result: Any, /) -> None: ...
    def set_exception(self, exception: BaseException, /) -> None: ...
    def result(self) -> Any: ...
    def __await__(self) -> Generator[Any, None, Any]: ...


class Clock(Protocol):
    """Futures and timers of the scheduler that runs the current task.

    A future wakes the tasks awaiting it on a later turn, never inside
    ``set_result`` (the neutral code finishes its own step first, as on
    asyncio); a timer handle's ``cancel`` may be called after it fired.
    """

    def create_future(self) -> Waiter: ...
    def call_later(self, delay: float, callback: Callable[..., object], *args: Any) -> Handle: ...


class Task(Protocol[T_co]):
    """What ``spawn`` returns: an awaitable task."""

    def cancel(self) -> bool: ...
    def done(self) -> bool: ...
    def cancelled(self) -> bool: ...
    def result(self) -> T_co: ...
    def exception(self) -> BaseException | None: ...
    def add_done_callback(self, fn: Callable[[Any], object], /) -> None: ...
    def __await__(self) -> Generator[Any, None, T_co]: ...


class Listener(Protocol):
    """The listening half of a ``shims.Server`` that ``Backend.listen`` returns."""

    host: str
    port: int

    def close(self) -> None: ...
    async def wait_closed(self) -> None: ...


OnAccept = Callable[["Connection"], object]


class Backend(abc.ABC):
    """Subclass this, fill in the abstract methods, register an instance.

    Class attributes: ``requires`` (modules that must be importable for the
    backend to be available; checked without importing them), ``install_hint``
    (the command that installs them, e.g. ``pip install
    'migrate-toolkit[uvloop]'``), ``asyncio_based`` (True when the
    backend runs an asyncio event loop: a service on it counts as moved off
    its old scheduler), ``parity_default`` (False: parity tests run on it only
    when ``--backends`` names it) and ``cancelled`` (the exception a cancelled
    task sees at its await point).
    """

    requires: tuple[str, ...] = ()
    install_hint: str = ""
    asyncio_based: bool = False
    parity_default: bool = True
    cancelled: type[BaseException] = BaseException

    def missing(self) -> str | None:
        """Return the first module of ``requires`` that is not installed (None: all are)."""
        for module in self.requires:
            try:
                found = importlib.util.find_spec(module) is not None
            except (ImportError, ValueError):
                found = False
            if not found:
                return module
        return None

    def unavailable(self) -> str | None:
        """Return why this backend cannot run here (a missing package), or None."""
        module = self.missing()
        if module is None:
            return None
        return f"{module} is not installed: {self.install_hint or 'install it'}"

    # -- the runtime half -----------------------------------------------------

    @abc.abstractmethod
    def run(
        self, main: Coroutine[Any, Any, T], *, on_unhandled: Callable[[BaseException], None]
    ) -> T:
        """Run ``main`` to completion on a scheduler; return its result or raise its error.

        Called once per ``shims.run``, possibly many times per process and
        thread. Errors of tasks nobody awaited go to ``on_unhandled``.
        """

    @abc.abstractmethod
    def running(self) -> bool:
        """Return True when this backend's scheduler runs the calling thread right now."""

    @abc.abstractmethod
    def clock(self) -> Clock:
        """Return the futures and timers of the scheduler running the caller."""

    @abc.abstractmethod
    def sleep(self, seconds: float) -> Awaitable[None]:
        """Suspend the calling task for ``seconds`` (0: let the others run once)."""

    @abc.abstractmethod
    def spawn(self, coro: Coroutine[Any, Any, T]) -> Task[T]:
        """Make a task of ``coro`` (it starts on the next turn); unretrieved errors go to ``on_unhandled``."""

    @abc.abstractmethod
    def current_task(self) -> Task[Any] | None:
        """Return the task running the caller (None outside a task)."""

    def gather(
        self, aws: Iterable[Awaitable[Any]], return_exceptions: bool
    ) -> Awaitable[list[Any]]:
        """``asyncio.gather`` semantics: the first failure propagates, the others keep running."""
        return _gather(self, list(aws), return_exceptions)

    def wait_for(self, aw: Awaitable[T], seconds: float | None) -> Awaitable[T]:
        """Await ``aw`` for at most ``seconds``; on expiry cancel it and raise ``TimeoutError``."""
        return _wait_for(self, aw, seconds)

    def timeout(self, seconds: float | None) -> Timeout:
        """``async with``: cancel the current task at the deadline, raise ``TimeoutError``."""
        return Timeout(self, seconds)

    # -- the connection half --------------------------------------------------

    @abc.abstractmethod
    async def dial(
        self,
        host: str,
        port: int,
        *,
        timeout: float | None,  # noqa: ASYNC109
        duplex: bool,
    ) -> Connection:
        """Connect to ``host:port``; return ``new_connection(...).connection``.

        Raise ``ConnectError`` (cause: the native error) or ``ConnectTimeout``;
        no socket may stay open either way.
        """

    @abc.abstractmethod
    async def listen(self, host: str, port: int, *, duplex: bool, on_accept: OnAccept) -> Listener:
        """Listen on ``host:port`` (0: a free port); call ``on_accept(conn)`` per connection.

        Raise ``ConnectError`` when the address cannot be bound.
        """


async def _gather(
    backend: Backend, aws: list[Awaitable[Any]], return_exceptions: bool
) -> list[Any]:
    tasks: list[Task[Any]] = [
        aw if hasattr(aw, "add_done_callback") else backend.spawn(aw)  # type: ignore[arg-type,misc]
        for aw in aws
    ]
    if not tasks:
        return []
    waiter = backend.clock().create_future()
    remaining = len(tasks)

    def on_done(task: Task[Any]) -> None:
        nonlocal remaining
        remaining -= 1
        if waiter.done():
            return
        failed = task.cancelled() or task.exception() is not None
        if failed and not return_exceptions:
            waiter.set_result(task)
        elif remaining == 0:
            waiter.set_result(None)

    for task in tasks:
        task.add_done_callback(on_done)
    try:
        first_failed = await waiter
    except backend.cancelled:
        for task in tasks:
            task.cancel()
        raise
    if first_failed is not None:
        first_failed.result()  # raises its exception (or the cancellation)
    results: list[Any] = []
    for task in tasks:
        if task.cancelled():
            results.append(backend.cancelled("the awaitable was cancelled"))
        else:
            exc = task.exception()
            results.append(exc if exc is not None else task.result())
    return results


async def _wait_for(backend: Backend, aw: Awaitable[T], seconds: float | None) -> T:
    if seconds is None:
        return await aw
    async with Timeout(backend, seconds):
        return await aw
    raise AssertionError("unreachable")  # pragma: no cover - the block returns or raises


class Timeout:
    """``async with shims.timeout(s):`` on any backend: cancel the task at the deadline."""

    def __init__(self, backend: Backend, seconds: float | None) -> None:
        self._backend = backend
        self._seconds = seconds
        self._expired = False
        self._task: Task[Any] | None = None
        self._handle: Handle | None = None

    def _expire(self) -> None:
        self._expired = True
        if self._task is not None:
            self._task.cancel()

    async def __aenter__(self) -> Timeout:
        if self._seconds is not None:
            self._task = self._backend.current_task()
            if self._task is None:
                raise RuntimeError("shims.timeout() must be used inside a task")
            self._handle = self._backend.clock().call_later(self._seconds, self._expire)
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._handle is not None:
            self._handle.cancel()
        if self._expired and isinstance(exc, self._backend.cancelled):
            raise TimeoutError(f"the block did not finish within {self._seconds!r} s") from exc

    def expired(self) -> bool:
        """Return True if the deadline passed."""
        return self._expired
