"""Generator coroutines: ``@coroutine`` and the driver that runs them as native coroutines.

Theory of operation: calling a ``@coroutine`` function returns a native
coroutine that drives the generator (``aw = gen.send(value)`` then ``value =
await aw``), throwing exceptions, ``Cancelled`` included, back into the
generator, so generator code can be awaited from ``async def``, spawned, or
yielded from another generator, and cancellation reaches its ``finally``.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Awaitable, Callable, Coroutine, Generator
from types import GeneratorType
from typing import Any, ParamSpec, TypeVar

from ._futures import Future

__all__ = ["coroutine"]

T = TypeVar("T")
P = ParamSpec("P")


def coroutine(fn: Callable[P, Any]) -> Callable[P, Coroutine[Any, Any, Any]]:
    """Turn a generator function (``x = yield aw``; ``return x``) into a coroutine function.

    Calling the result returns a native coroutine, so it can be awaited from
    ``async def``, passed to ``spawn``/``run``, or yielded from another
    generator. The generator may yield a ``Future``/``Task``, a coroutine, a
    list or tuple of awaitables (waited with ``wait_all``), or ``None`` (yield
    to other tasks once). A plain function is wrapped too; its return value
    becomes the coroutine's result.
    """

    @functools.wraps(fn)
    async def wrapper(*args: P.args, **kwargs: P.kwargs) -> Any:
        result = fn(*args, **kwargs)
        if isinstance(result, GeneratorType):
            return await _drive(result)
        return result

    wrapper.__legacy_coroutine__ = True  # type: ignore[attr-defined]
    return wrapper


async def _drive(gen: Generator[Any, Any, T]) -> T:
    """Run a generator coroutine: await what it yields, send results and throw errors back."""
    try:
        yielded = gen.send(None)
    except StopIteration as stop:
        return stop.value  # type: ignore[no-any-return]
    while True:
        try:
            value = await _awaitable(yielded)
        except GeneratorExit:
            gen.close()
            raise
        except BaseException as exc:
            try:
                yielded = gen.throw(exc)
            except StopIteration as stop:
                return stop.value  # type: ignore[no-any-return]
        else:
            try:
                yielded = gen.send(value)
            except StopIteration as stop:
                return stop.value  # type: ignore[no-any-return]


class _YieldOnce:
    __slots__ = ()

    def __await__(self) -> Generator[None, None, None]:
        yield None


def _awaitable(obj: Any) -> Awaitable[Any]:
    if isinstance(obj, Future) or inspect.isawaitable(obj):
        return obj
    if obj is None:
        return _YieldOnce()
    if isinstance(obj, GeneratorType):
        return _drive(obj)
    if isinstance(obj, list | tuple):
        from ._ops import wait_all  # late: _ops builds on this module

        return wait_all(obj)
    raise TypeError(f"a legacy coroutine yielded {obj!r}; yield a Future, Task or coroutine")


def _as_coroutine(obj: Any) -> Coroutine[Any, Any, Any]:
    if inspect.iscoroutine(obj):
        return obj
    if isinstance(obj, GeneratorType):
        return _drive(obj)
    if inspect.isawaitable(obj):

        async def await_it() -> Any:
            return await obj

        return await_it()
    raise TypeError(f"expected a coroutine, a generator or an awaitable, got {obj!r}")
