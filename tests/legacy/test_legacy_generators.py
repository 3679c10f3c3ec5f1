"""Generator coroutines (@runtime.coroutine): `x = yield aw`, `return x`, errors thrown back in."""

from __future__ import annotations

from collections.abc import Generator
from typing import Any

import pytest

from legacy import runtime


@runtime.coroutine
def double_later(x: int) -> Generator[Any, Any, int]:
    y = yield runtime.sleep(0.001, x)
    return y * 2  # type: ignore[no-any-return]


@runtime.coroutine
def chain() -> Generator[Any, Any, list[int]]:
    a = yield double_later(1)
    b = yield double_later(a)
    return [a, b]


def test_yield_receives_the_result_and_return_gives_the_value() -> None:
    assert runtime.run(double_later, 21) == 42
    assert runtime.run(chain) == [2, 4]


def test_generator_coroutine_is_awaitable_and_spawnable() -> None:
    async def main() -> tuple[int, int]:
        direct = await double_later(5)
        task = runtime.spawn(double_later(6))
        return direct, await task

    assert runtime.run(main) == (10, 12)


def test_exceptions_are_thrown_into_the_generator() -> None:
    async def fails() -> None:
        await runtime.sleep(0)
        raise KeyError("inner")

    @runtime.coroutine
    def catcher() -> Generator[Any, Any, str]:
        try:
            yield fails()
        except KeyError as exc:
            return f"caught {exc}"
        return "not caught"

    @runtime.coroutine
    def propagates() -> Generator[Any, Any, None]:
        yield fails()

    assert runtime.run(catcher) == "caught 'inner'"
    with pytest.raises(KeyError, match="inner"):
        runtime.run(propagates)


def test_cancellation_reaches_the_generator_and_its_finally() -> None:
    seen: list[str] = []

    @runtime.coroutine
    def victim() -> Generator[Any, Any, None]:
        try:
            yield runtime.sleep(10)
        except runtime.Cancelled:
            seen.append("cancelled")
            raise
        finally:
            seen.append("finally")

    async def main() -> None:
        task = runtime.spawn(victim())
        await runtime.sleep(0.01)
        task.cancel()
        with pytest.raises(runtime.Cancelled):
            await task

    runtime.run(main)
    assert seen == ["cancelled", "finally"]


def test_timeout_inside_a_generator_can_be_caught() -> None:
    @runtime.coroutine
    def guarded() -> Generator[Any, Any, str]:
        try:
            yield runtime.with_timeout(0.01, runtime.sleep(5))
        except runtime.Timeout:
            return "timed out"
        return "finished"

    assert runtime.run(guarded) == "timed out"


def test_yield_list_none_and_plain_generators() -> None:
    def undecorated() -> Generator[Any, Any, str]:
        value = yield runtime.sleep(0, "plain")
        return value  # type: ignore[no-any-return]

    @runtime.coroutine
    def mixed() -> Generator[Any, Any, list[Any]]:
        yield  # bare yield: let others run once
        both = yield [runtime.sleep(0.01, "a"), double_later(2)]
        nested = yield undecorated()
        return [*both, nested]

    assert runtime.run(mixed) == ["a", 4, "plain"]
    assert runtime.run(undecorated()) == "plain"


def test_decorated_plain_function_returns_its_value_and_bad_yields_fail_clearly() -> None:
    @runtime.coroutine
    def not_a_generator(x: int) -> int:
        return x + 1

    @runtime.coroutine
    def bad() -> Generator[Any, Any, None]:
        yield 42

    assert runtime.run(not_a_generator, 1) == 2
    with pytest.raises(TypeError, match="yielded 42"):
        runtime.run(bad)
