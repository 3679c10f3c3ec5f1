"""The backend contract: the few facts and primitives a backend supplies.

Theory of operation (httpcore style): a backend knows how to move bytes and
keep time, nothing more. Everything a user can observe about a connection
(state, close reason, which error a call raises, timeouts, unread-data
policy, the pool) is decided once, in backend-neutral code, from these facts:

- the transport side (``Transport``): ``write``, ``write_eof`` (half-close;
  with nothing queued the neutral code shuts the socket down itself, so the
  FIN is in the kernel when ``shutdown_write`` returns), ``is_closing`` (the
  transport may no longer own its descriptor; never a liveness signal),
  ``close`` (flush then close), ``abort`` (drop unsent data), flow control
  with ``pause_reading``/``resume_reading``;
- the facts a backend pushes into ``Connection``: ``_on_data(bytes)``,
  ``_on_eof()``, ``_on_lost(exc | None)``, ``_on_pause_writing()``,
  ``_on_resume_writing()`` (called when every byte was handed to the kernel);
- the clock (``Clock``): ``create_future()`` and ``call_later()``;
- the liveness fact: the socket's file descriptor, which neutral code polls
  with a zero timeout (no round trip) to see an EOF or RST the loop has not
  read yet.

The asyncio transport already has exactly the ``Transport`` methods, so the
asyncio backend passes it through with no wrapper (the hot path stays as
short as raw asyncio streams).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Generator
from typing import Any, Protocol

__all__ = ["Clock", "Handle", "Transport", "Waiter"]


class Transport(Protocol):
    """Byte pipe a backend gives the neutral ``Connection``; never raises for a closed pipe."""

    def write(self, data: bytes | bytearray | memoryview, /) -> None: ...
    def write_eof(self) -> None: ...
    def is_closing(self) -> bool: ...
    def close(self) -> None: ...
    def abort(self) -> None: ...
    def pause_reading(self) -> None: ...
    def resume_reading(self) -> None: ...


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
    """Futures and timers of the backend that runs the current task."""

    def create_future(self) -> Waiter: ...
    def call_later(self, delay: float, callback: Callable[..., object], *args: Any) -> Handle: ...


AsyncFn = Callable[..., Awaitable[Any]]
