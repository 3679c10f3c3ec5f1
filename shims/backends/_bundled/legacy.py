"""The ``legacy`` backend: the shim's API on ``legacy.runtime``'s scheduler.

Theory of operation: connections are plain non-blocking sockets driven by the
scheduler's ``add_reader``/``add_writer`` (``shims.backends._sockets``),
feeding the same neutral ``Connection`` the asyncio backend feeds. The reader
stays registered while the connection is idle, so the peer's FIN is seen
(and ``closed()`` flips, ``on_close`` runs) without a pending read, as on
asyncio.

Runtime calls map onto ``legacy.runtime``: ``sleep``, ``spawn``,
``current_task`` and the scheduler's futures and timers directly; ``wait_for``
onto ``with_timeout`` with ``runtime.Timeout`` turned into a plain
``TimeoutError`` (cause kept). ``gather`` and ``timeout`` are the contract's
portable defaults (``wait_all`` would cancel the others on a failure).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Coroutine
from typing import Any, TypeVar, cast

from legacy import runtime

from ..._connection import Connection
from ..._errors import ConnectError, ConnectTimeout
from .. import Backend, Clock, Listener, Task, _sockets, register

__all__ = ["LegacyBackend"]

T = TypeVar("T")


class LegacyBackend(Backend):
    """The shim on the reference in-house scheduler (``legacy.runtime``)."""

    cancelled = runtime.Cancelled

    def run(
        self, main: Coroutine[Any, Any, T], *, on_unhandled: Callable[[BaseException], None]
    ) -> T:
        def on_error(exc: BaseException, task: Any) -> None:
            on_unhandled(exc)

        async def wrapper() -> T:
            runtime.get_scheduler().set_exception_handler(on_error)
            return await main

        return runtime.run(wrapper)  # type: ignore[no-any-return]

    def running(self) -> bool:
        try:
            runtime.get_scheduler()
        except RuntimeError:
            return False
        return True

    def clock(self) -> Clock:
        return cast(Clock, _scheduler())

    def sleep(self, seconds: float) -> Awaitable[None]:
        return runtime.sleep(seconds)

    def spawn(self, coro: Coroutine[Any, Any, T]) -> Task[T]:
        return cast(Task[T], runtime.spawn(coro))

    def current_task(self) -> Task[Any] | None:
        return cast("Task[Any] | None", runtime.current_task())

    async def wait_for(self, aw: Awaitable[T], seconds: float | None) -> T:
        if seconds is None:
            return await aw
        try:
            return await runtime.with_timeout(seconds, aw)  # type: ignore[no-any-return]
        except runtime.Timeout as exc:
            raise TimeoutError(f"the operation did not finish within {seconds!r} s") from exc

    async def dial(
        self,
        host: str,
        port: int,
        *,
        timeout: float | None,  # noqa: ASYNC109
        duplex: bool,
    ) -> Connection:
        """Dial ``host:port``; ``timeout`` covers the name lookup and the connect together."""
        dialing = _sockets.dial(_scheduler(), host, port, duplex=duplex)
        try:
            if timeout is None:
                return await dialing
            return await runtime.with_timeout(timeout, dialing)  # type: ignore[no-any-return]
        except runtime.Timeout as exc:
            raise ConnectTimeout(
                f"connect to {host!r} port {port!r} did not complete within timeout={timeout!r} s"
            ) from exc
        except ConnectError:
            raise  # the lookup failed: already says so
        except OSError as exc:
            raise ConnectError(
                f"could not connect to {host!r} port {port!r}: {exc.strerror or exc}"
            ) from exc

    async def listen(
        self, host: str, port: int, *, duplex: bool, on_accept: Callable[[Connection], object]
    ) -> Listener:
        return await _sockets.listen(_scheduler(), host, port, duplex=duplex, on_accept=on_accept)


def _scheduler() -> runtime.Scheduler:
    try:
        return runtime.get_scheduler()
    except RuntimeError:
        raise RuntimeError(
            "no shims backend is running in this thread; call this from code started by "
            "shims.run(main) (or from a running asyncio loop)"
        ) from None


register("legacy", LegacyBackend())
