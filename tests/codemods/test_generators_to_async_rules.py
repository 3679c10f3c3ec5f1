"""generators-to-async: the no-op / aliased-import / must-refuse triple for rules not covered per preset."""

from __future__ import annotations

from test_generators_to_async import GenCase


class TestReturnAwait(GenCase):
    PRESET = "asyncio"

    def test_aliased_asyncio_apis_are_known_awaitables(self) -> None:
        self.convert(
            """
            import asyncio as aio
            from asyncio import sleep as nap

            @aio.coroutine
            def pause():
                return nap(1)

            @aio.coroutine
            def guarded(fut):
                return aio.wait_for(fut, 5)
            """,
            """
            import asyncio as aio
            from asyncio import sleep as nap

            async def pause():
                return await nap(1)

            async def guarded(fut):
                return await aio.wait_for(fut, 5)
            """,
        )

    def test_noop_for_plain_functions_returning_awaitables(self) -> None:
        self.noop(
            """
            import asyncio

            def pause():
                return asyncio.sleep(1)
            """
        )

    def test_generator_with_a_dead_yield_returns_its_value_unawaited(self) -> None:
        # It was a generator, so asyncio did not await its return value.
        self.convert(
            """
            import asyncio

            @asyncio.coroutine
            def make_future(loop):
                return loop.create_future()
                yield
            """,
            """
            async def make_future(loop):
                return loop.create_future()
            """,
        )


class TestTornadoHelpers(GenCase):
    PRESET = "tornado"

    def test_aliased_sleep_moment_and_multi(self) -> None:
        self.convert(
            """
            from tornado.gen import coroutine, sleep as nap, moment, multi

            @coroutine
            def tick(jobs):
                yield nap(1)
                yield moment
                done = yield multi([job() for job in jobs])
                return done
            """,
            """
            import asyncio

            async def tick(jobs):
                await asyncio.sleep(1)
                await asyncio.sleep(0)
                done = await asyncio.gather(*[job() for job in jobs])
                return done
            """,
        )

    def test_yielded_executor_submit_is_wrapped(self) -> None:
        self.convert(
            """
            from tornado import gen

            class Handler:
                @gen.coroutine
                def digest(self, data):
                    value = yield self.executor.submit(hash, data)
                    raise gen.Return(value)
            """,
            """
            import asyncio

            class Handler:
                async def digest(self, data):
                    value = await asyncio.wrap_future(self.executor.submit(hash, data))
                    return value
            """,
        )

    def test_noop_for_helpers_outside_coroutines(self) -> None:
        self.noop(
            """
            from tornado import gen

            def later():
                return gen.multi([gen.sleep(1), gen.moment])

            def unused_helper():
                raise gen.Return(1)
            """
        )

    def test_multi_with_options_is_refused(self) -> None:
        self.refuse(
            """
            from tornado import gen

            @gen.coroutine
            def quiet(futures):
                yield gen.multi(futures, quiet_exceptions=(IOError,))
            """,
            [r"^line 5: gen.multi\(\) with options"],
        )

    def test_start_several_with_aliased_import(self) -> None:
        self.convert(
            """
            import tornado.gen as tg

            @tg.coroutine
            def fetch(x):
                raise tg.Return(x)
                yield

            @tg.coroutine
            def main():
                fa = fetch(1)
                rb = yield fetch(2)
                ra = yield fa
                raise tg.Return(ra + rb)
            """,
            """
            import asyncio

            async def fetch(x):
                return x

            async def main():
                fa = asyncio.ensure_future(fetch(1))
                rb = await fetch(2)
                ra = await fa
                return ra + rb
            """,
        )


class TestLazyPresetsKeepOrder(GenCase):
    def test_asyncio_and_legacy_calls_were_lazy_and_stay_unwrapped(self) -> None:
        # @asyncio.coroutine and @runtime.coroutine did not start on call, so
        # "start several, then yield each" was sequential and stays so.
        self.convert(
            """
            import asyncio

            @asyncio.coroutine
            def fetch(x):
                yield from asyncio.sleep(0)
                return x

            @asyncio.coroutine
            def main():
                fa = fetch(1)
                fb = fetch(2)
                ra = yield from fa
                rb = yield from fb
                return ra + rb
            """,
            """
            import asyncio

            async def fetch(x):
                await asyncio.sleep(0)
                return x

            async def main():
                fa = fetch(1)
                fb = fetch(2)
                ra = await fa
                rb = await fb
                return ra + rb
            """,
            preset="asyncio",
        )


class TestWithYield(GenCase):
    PRESET = "asyncio"

    def test_aliased_asyncio(self) -> None:
        self.convert(
            """
            import asyncio as aio

            @aio.coroutine
            def guarded():
                lock = aio.Lock()
                with (yield from lock):
                    yield from aio.sleep(0)
            """,
            """
            import asyncio as aio

            async def guarded():
                lock = aio.Lock()
                async with lock:
                    await aio.sleep(0)
            """,
        )

    def test_noop_in_plain_generators(self) -> None:
        self.noop(
            """
            def guarded(lock):
                with (yield from lock):
                    pass
            """
        )


class TestConsumersTriple(GenCase):
    PRESET = "asyncio"

    def test_aliased_decorator_kept_as_types_coroutine(self) -> None:
        self.convert(
            """
            from asyncio import coroutine as co

            @co
            def step():
                yield from other()

            class Awaitable:
                def __iter__(self):
                    yield from step()
            """,
            """
            import types

            @types.coroutine
            def step():
                yield from other()

            class Awaitable:
                def __iter__(self):
                    yield from step()
            """,
            [r"^line 3: kept 'step' a generator with @types.coroutine: __iter__ consumes it"],
        )

    def test_noop_when_consumers_are_already_plain_generators_of_plain_generators(self) -> None:
        self.noop(
            """
            def inner():
                yield 1

            def outer():
                yield from inner()
            """
        )

    def test_types_name_taken_is_refused(self) -> None:
        self.refuse(
            """
            import asyncio
            types = ("a", "b")

            @asyncio.coroutine
            def step():
                yield from asyncio.sleep(0)

            def plain():
                yield from step()
            """,
            [r"the conversion needs the name 'types', which this module binds to something else"],
        )


class TestDelegationToPlainGenerators(GenCase):
    PRESET = "legacy"

    def test_yield_from_a_plain_generator_is_refused(self) -> None:
        self.refuse(
            """
            from legacy import runtime

            def pump(conn):
                chunk = yield conn.read_some()
                return chunk

            @runtime.coroutine
            def reader(conn):
                data = yield from pump(conn)
                return data

            @runtime.coroutine
            def fine(conn):
                data = yield from reader(conn)
                return data
            """,
            [r"^line 9: yield from pump\(\) delegates to the plain generator 'pump' \(line 3\)"],
        )

    def test_noop_plain_generators_delegating_to_each_other(self) -> None:
        self.noop(
            """
            from legacy import runtime

            def inner():
                yield runtime.sleep(0)

            def outer():
                yield from inner()
            """
        )
