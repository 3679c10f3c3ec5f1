"""Run one parity test on one backend: async fixtures, the test, and the leak checks."""

# Theory of operation
# -------------------
# ``shims.run`` closes whatever connections are still open when its main
# returns, so leaks must be looked for *inside* the run: after the test and
# its async fixtures finished, connections that appeared during the test get
# a short grace period to finish closing (a server handler reacting to our
# close), and the ones still open are reported.  Unhandled task exceptions are
# read from ``shims.testing.UNHANDLED`` after the run, because a loop reports
# some of them only while shutting down.  Backend names, availability and
# skip reasons all come from the one registry (``shims.backends``).

from __future__ import annotations

import inspect
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from types import ModuleType
from typing import Any

LEAK_GRACE = 1.0

Runner = Callable[[Callable[[], Awaitable[None]]], object]


def register_backend(name: str, run: Runner, *, replace: bool = False) -> None:
    """Register an asyncio-compatible loop as backend ``name`` (``--backends NAME``, flags...).

    ``run(main)`` must run the coroutine function ``main`` to completion and
    re-raise what it raised, e.g. on your own asyncio event loop class
    (``asyncio.Runner(loop_factory=MyLoop).run(main())``). Unhandled task
    exceptions are reported only if your runner passes them to
    ``shims.testing.record_unhandled``. For a scheduler that is not an
    asyncio loop, subclass ``shims.backends.Backend`` and call
    ``shims.backends.register`` instead (docs/backends.md).

    Raises ValueError (``FlagError``) for a malformed name or a name already
    registered without ``replace=True``.
    """
    from shims.backends import get, register
    from shims.backends._bundled.asyncio import AsyncioBackend

    class _RunnerBackend(AsyncioBackend):
        by_register_backend = True

        def run(self, main: Any, *, on_unhandled: Callable[[BaseException], None]) -> Any:
            result: list[Any] = []

            async def body() -> None:
                result.append(await main)

            run(body)
            return result[0] if result else None

    if name in get_names():
        if not getattr(get(name), "by_register_backend", False):
            raise ValueError(f"{name!r} is a built-in backend; register yours under another name")
        if not replace:
            raise ValueError(f"backend {name!r} is already registered; pass replace=True")
    register(name, _RunnerBackend(), replace=replace)


def get_names() -> list[str]:
    """Return every registered backend name (installed or not)."""
    from shims.backends import names

    return names(available=False)


@dataclass
class Deferred:
    """An async fixture of a parity test, to set up inside the backend run."""

    name: str
    func: Callable[..., Any]
    kwargs: dict[str, Any]


def backend_problem(name: str) -> tuple[str, str] | None:
    """Return ("unknown", msg), ("skip", msg) or None when ``name`` can run here."""
    from shims import _registry

    if name not in _registry.known():
        valid = ", ".join(_registry.known())
        return ("unknown", f"unknown backend {name!r} in --backends; choose from {valid}")
    problem = _registry.problem(name)
    return None if problem is None else ("skip", problem)


def default_backends() -> list[str]:
    """Return the backends a run without ``--backends`` uses (installed, not opt-in)."""
    from shims import _registry

    return _registry.parity_defaults()


def baseline(shims: ModuleType) -> list[Any]:
    """Clear UNHANDLED and return the connections alive before the test (kept alive)."""
    from shims import _diagnostics

    _diagnostics.UNHANDLED.clear()
    return _diagnostics.live_connections()


def run_parity_test(
    shims: ModuleType,
    backend: str,
    fn: Callable[..., Any],
    testargs: dict[str, Any],
    before: list[Any],
) -> str | None:
    """Run ``fn(**testargs)`` on ``backend``; return a leak report or None.

    ``Deferred`` values in ``testargs`` (async fixtures) are set up
    first, inside the run, and torn down after the test in reverse order.
    Re-raises what the test or a fixture teardown raised.
    """
    leaks: list[str] = []

    async def main() -> None:
        stack: list[tuple[str, Any]] = []
        memo: dict[int, Any] = {}

        async def resolve(value: Any) -> Any:
            if not isinstance(value, Deferred):
                return value
            if id(value) in memo:
                return memo[id(value)]
            kwargs = {k: await resolve(v) for k, v in value.kwargs.items()}
            if inspect.isasyncgenfunction(value.func):
                gen = value.func(**kwargs)
                try:
                    result = await gen.__anext__()
                except StopAsyncIteration:
                    raise RuntimeError(f"async fixture {value.name!r} did not yield") from None
                stack.append((value.name, gen))
            else:
                result = await value.func(**kwargs)
            memo[id(value)] = result
            return result

        try:
            args = {k: await resolve(v) for k, v in testargs.items()}
            await fn(**args)
        except BaseException:
            await _teardown(stack, quiet=True)
            raise
        await _teardown(stack, quiet=False)
        leaks.extend(await _leaked(shims, before))

    shims.run(main, backend=backend)
    if leaks:
        return (
            f"{len(leaks)} connection(s) still open when the test ended on {backend} "
            "(close every Connection, and close servers, before the test returns):\n"
            + "\n".join(f"  {line}" for line in leaks)
        )
    return None


async def _teardown(stack: list[tuple[str, Any]], *, quiet: bool) -> None:
    first: BaseException | None = None
    for name, gen in reversed(stack):
        try:
            await gen.__anext__()
        except StopAsyncIteration:
            continue
        except BaseException as exc:
            first = first or exc
            continue
        first = first or RuntimeError(f"async fixture {name!r} yielded more than once")
    if first is not None and not quiet:
        raise first


async def _leaked(shims: ModuleType, before: list[Any]) -> list[str]:
    from shims._diagnostics import live_connections

    known = {id(c) for c in before}
    deadline = time.monotonic() + LEAK_GRACE
    while True:
        open_now = [c for c in live_connections() if id(c) not in known]
        if not open_now or time.monotonic() >= deadline:
            return [repr(c) for c in open_now]
        await shims.sleep(0.005)


def unhandled_report() -> str | None:
    """Return (and clear) the unhandled exceptions recorded since the baseline."""
    from shims._diagnostics import UNHANDLED

    found = list(UNHANDLED)
    UNHANDLED.clear()
    if not found:
        return None
    lines = [f"  {type(e).__qualname__}: {e}" for e in found]
    return (
        f"{len(found)} unhandled exception(s) in spawned tasks, handlers or callbacks "
        "(await the task, or handle the error inside it):\n" + "\n".join(lines)
    )
