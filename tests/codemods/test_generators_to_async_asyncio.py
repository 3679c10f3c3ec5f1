"""generators-to-async, preset asyncio: ``@asyncio.coroutine``, ``yield from``, removed ``loop=``."""

from __future__ import annotations

import asyncio
import inspect

import pytest
from test_generators_to_async import GenCase

from codemods._generators.presets import LOOP_REMOVED


class TestCoroutines(GenCase):
    PRESET = "asyncio"

    def test_yield_from_becomes_await(self) -> None:
        self.convert(
            """
            import asyncio

            @asyncio.coroutine
            def echo(reader, writer):
                data = yield from reader.readline()
                writer.write(data)
                yield from writer.drain()
                yield from asyncio.sleep(0.1)
            """,
            """
            import asyncio

            async def echo(reader, writer):
                data = await reader.readline()
                writer.write(data)
                await writer.drain()
                await asyncio.sleep(0.1)
            """,
        )

    def test_aliased_asyncio_and_from_import(self) -> None:
        self.convert(
            """
            import asyncio as aio
            from asyncio import coroutine

            @aio.coroutine
            def one():
                yield from aio.sleep(0)

            @coroutine
            def two():
                yield from one()
            """,
            """
            import asyncio as aio

            async def one():
                await aio.sleep(0)

            async def two():
                await one()
            """,
        )

    def test_noop_for_native_code_and_other_decorators(self) -> None:
        self.noop(
            """
            import asyncio
            from tornado import gen

            @gen.coroutine
            def tornado_style():
                yield gen.sleep(1)

            async def native():
                await asyncio.sleep(1)
            """
        )

    def test_bare_yield_is_a_scheduling_point(self) -> None:
        self.convert(
            """
            import asyncio

            @asyncio.coroutine
            def spin():
                while busy():
                    yield
            """,
            """
            import asyncio

            async def spin():
                while busy():
                    await asyncio.sleep(0)
            """,
        )

    def test_no_yield_returning_an_awaitable_uses_return_await(self) -> None:
        # @asyncio.coroutine awaited what a plain function returned.
        self.convert(
            """
            import asyncio

            @asyncio.coroutine
            def later(loop, fn):
                return loop.run_in_executor(None, fn)

            @asyncio.coroutine
            def pause():
                return asyncio.sleep(1)

            @asyncio.coroutine
            def chained():
                return pause()

            @asyncio.coroutine
            def constant():
                return {"answer": 42}
            """,
            """
            import asyncio

            async def later(loop, fn):
                return await loop.run_in_executor(None, fn)

            async def pause():
                return await asyncio.sleep(1)

            async def chained():
                return await pause()

            async def constant():
                return {"answer": 42}
            """,
        )

    def test_no_yield_returning_maybe_awaitable_is_refused(self) -> None:
        self.refuse(
            """
            import asyncio

            @asyncio.coroutine
            def lookup(cache, key):
                return cache.get(key)
            """,
            [r"^line 5: this coroutine has no yield and returns a value that may be awaitable"],
        )

    def test_yield_with_a_value_is_refused(self) -> None:
        self.refuse(
            """
            import asyncio

            @asyncio.coroutine
            def wrong(fut):
                yield fut
            """,
            [r"^line 5: yield with a value in an @asyncio.coroutine generator"],
        )

    def test_with_yield_from_unknown_object_awaits_it(self) -> None:
        # ``with (yield from pool)`` acquired from the pool and entered what
        # that returned; ``async with pool`` would enter (and close) the pool.
        self.convert(
            """
            import asyncio

            @asyncio.coroutine
            def query(pool, engine):
                with (yield from pool) as conn:
                    yield from conn.execute("SELECT 1")
                with (yield from pool.cursor()) as cur, open("f"):
                    pass
                with (yield from engine) as a, (yield from engine) as b:
                    pass
            """,
            """
            async def query(pool, engine):
                with (await pool) as conn:
                    await conn.execute("SELECT 1")
                with (await pool.cursor()) as cur, open("f"):
                    pass
                with (await engine) as a, (await engine) as b:
                    pass
            """,
        )

    def test_with_yield_from_known_lock_becomes_async_with(self) -> None:
        self.convert(
            """
            import asyncio
            from asyncio import Semaphore as Sem

            class Guarded:
                def __init__(self):
                    self._lock = asyncio.Lock()

                @asyncio.coroutine
                def run(self):
                    cond = asyncio.Condition()
                    sem = Sem(2)
                    with (yield from self._lock):
                        yield from asyncio.sleep(0)
                    with (yield from cond) as held, (yield from sem):
                        pass

            @asyncio.coroutine
            def consume(queue, lock):
                with (yield from lock):
                    yield from queue.get()

            @asyncio.coroutine
            def main(queue):
                lock = asyncio.BoundedSemaphore()
                yield from consume(queue, lock)
            """,
            """
            import asyncio
            from asyncio import Semaphore as Sem

            class Guarded:
                def __init__(self):
                    self._lock = asyncio.Lock()

                async def run(self):
                    cond = asyncio.Condition()
                    sem = Sem(2)
                    async with self._lock:
                        await asyncio.sleep(0)
                    async with cond as held, sem:
                        pass

            async def consume(queue, lock):
                async with lock:
                    await queue.get()

            async def main(queue):
                lock = asyncio.BoundedSemaphore()
                await consume(queue, lock)
            """,
        )

    def test_lock_reached_through_the_files_own_objects(self) -> None:
        self.convert(
            """
            import asyncio

            class Queue:
                def __init__(self):
                    self._not_full = asyncio.Condition()

            class AsyncSide:
                @asyncio.coroutine
                def put(self, item):
                    with (yield from self._parent._not_full):
                        pass

            @asyncio.coroutine
            def fill():
                queue = Queue()
                with (yield from queue._not_full):
                    yield from asyncio.sleep(0)
            """,
            """
            import asyncio

            class Queue:
                def __init__(self):
                    self._not_full = asyncio.Condition()

            class AsyncSide:
                async def put(self, item):
                    async with self._parent._not_full:
                        pass

            async def fill():
                queue = Queue()
                async with queue._not_full:
                    await asyncio.sleep(0)
            """,
        )

    def test_attribute_assigned_something_else_too_is_not_a_known_lock(self) -> None:
        self.convert(
            """
            import asyncio

            class Guarded:
                def __init__(self, lock=None):
                    self._lock = asyncio.Lock()
                    if lock is not None:
                        self._lock = lock

                @asyncio.coroutine
                def run(self):
                    with (yield from self._lock):
                        pass
            """,
            """
            import asyncio

            class Guarded:
                def __init__(self, lock=None):
                    self._lock = asyncio.Lock()
                    if lock is not None:
                        self._lock = lock

                async def run(self):
                    with (await self._lock):
                        pass
            """,
        )

    def test_with_known_lock_mixed_with_other_managers_is_refused(self) -> None:
        self.refuse(
            """
            import asyncio

            @asyncio.coroutine
            def guarded():
                lock = asyncio.Lock()
                with (yield from lock), open("f"):
                    pass
            """,
            [r"^line 6: a with statement mixing an asyncio lock with other context managers"],
        )


class TestConsumers(GenCase):
    PRESET = "asyncio"

    def test_await_method_delegates_through_dunder_await(self) -> None:
        self.convert(
            """
            import asyncio

            @asyncio.coroutine
            def _wait(self):
                yield from asyncio.sleep(0)
                return 1

            class Waiter:
                def __await__(self):
                    return (yield from _wait(self))

            @asyncio.coroutine
            def user():
                value = yield from Waiter()
                return value
            """,
            """
            import asyncio

            async def _wait(self):
                await asyncio.sleep(0)
                return 1

            class Waiter:
                def __await__(self):
                    return (yield from _wait(self).__await__())

            async def user():
                value = await Waiter()
                return value
            """,
        )

    def test_kept_generator_may_still_yield_from_native_coroutines(self) -> None:
        self.convert(
            """
            import asyncio

            @asyncio.coroutine
            def leaf():
                yield from asyncio.sleep(0)

            @asyncio.coroutine
            def middle():
                yield from leaf()

            def plain():
                yield from middle()
            """,
            """
            import asyncio
            import types

            async def leaf():
                await asyncio.sleep(0)

            @types.coroutine
            def middle():
                yield from leaf()

            def plain():
                yield from middle()
            """,
            [r"^line 7: kept 'middle' a generator"],
        )


class TestLoopArgument(GenCase):
    PRESET = "asyncio"

    def test_removed_loop_arguments_are_dropped(self) -> None:
        self.convert(
            """
            import asyncio

            async def main(loop):
                await asyncio.sleep(1, loop=loop)
                queue = asyncio.Queue(10, loop=loop)
                lock = asyncio.Lock(loop=self.loop)
                done = asyncio.Event(loop=loop)
                await asyncio.wait_for(queue.get(), 5, loop=loop)
                await asyncio.gather(a(), b(), loop=loop, return_exceptions=True)
                reader, writer = await asyncio.open_connection("h", 1, loop=loop)
                fut = asyncio.ensure_future(a(), loop=loop)
                other = asyncio.Future(loop=loop)
            """,
            """
            import asyncio

            async def main(loop):
                await asyncio.sleep(1)
                queue = asyncio.Queue(10)
                lock = asyncio.Lock()
                done = asyncio.Event()
                await asyncio.wait_for(queue.get(), 5)
                await asyncio.gather(a(), b(), return_exceptions=True)
                reader, writer = await asyncio.open_connection("h", 1)
                fut = asyncio.ensure_future(a(), loop=loop)
                other = asyncio.Future(loop=loop)
            """,
        )

    def test_dropping_the_last_argument_keeps_the_layout(self) -> None:
        self.convert(
            """
            import asyncio

            async def main(loop):
                await asyncio.gather(
                    first(),
                    second(),
                    loop=loop,
                )
                await asyncio.gather(
                    first(), second(), loop=loop
                )
            """,
            """
            import asyncio

            async def main(loop):
                await asyncio.gather(
                    first(),
                    second(),
                )
                await asyncio.gather(
                    first(), second()
                )
            """,
        )

    def test_loop_argument_through_aliases(self) -> None:
        self.convert(
            """
            import asyncio as aio
            from asyncio import sleep as nap, Semaphore

            @aio.coroutine
            def main(loop):
                yield from nap(1, loop=loop)
                sem = Semaphore(2, loop=loop)
                yield from aio.shield(work(), loop=loop)
            """,
            """
            import asyncio as aio
            from asyncio import sleep as nap, Semaphore

            async def main(loop):
                await nap(1)
                sem = Semaphore(2)
                await aio.shield(work())
            """,
        )

    def test_noop_for_other_libraries_loop_arguments(self) -> None:
        self.noop(
            """
            import aiohttp

            session = aiohttp.ClientSession(loop=loop)
            server = make_server(loop=loop)
            """
        )

    def test_loop_argument_with_side_effects_is_refused(self) -> None:
        self.refuse(
            """
            import asyncio

            lock = asyncio.Lock(loop=asyncio.get_event_loop())
            """,
            [
                r"^line 3: loop= of Lock\(\) was removed in Python 3.10, but its value may have side effects"
            ],
        )


@pytest.mark.parametrize("qualname", sorted(LOOP_REMOVED))
def test_loop_removed_list_matches_this_python(qualname: str) -> None:
    obj: object = asyncio
    for part in qualname.split(".")[1:]:  # asyncio.Queue and asyncio.queues.Queue
        obj = getattr(obj, part)
    params = inspect.signature(obj).parameters  # type: ignore[arg-type]
    assert "loop" not in params


@pytest.mark.parametrize("name", ["ensure_future", "Future", "Task", "wrap_future"])
def test_apis_that_still_take_loop_are_not_in_the_list(name: str) -> None:
    assert "loop" in inspect.signature(getattr(asyncio, name)).parameters
    assert f"asyncio.{name}" not in LOOP_REMOVED
