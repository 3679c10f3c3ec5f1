"""generators-to-async, preset tornado: ``@gen.coroutine``, ``gen.Return``, ``gen.sleep``/``moment``/``multi``."""

from __future__ import annotations

from test_generators_to_async import GenCase


class TestDecoratorAndReturn(GenCase):
    PRESET = "tornado"

    def test_gen_coroutine_and_return(self) -> None:
        self.convert(
            """
            from tornado import gen

            @gen.coroutine
            def fetch(client, url):
                response = yield client.fetch(url)
                if not response.body:
                    raise gen.Return()
                raise gen.Return(response.body)
            """,
            """
            async def fetch(client, url):
                response = await client.fetch(url)
                if not response.body:
                    return
                return response.body
            """,
        )

    def test_aliased_module_and_from_imports(self) -> None:
        self.convert(
            """
            import tornado.gen as tg
            from tornado.gen import coroutine, Return, with_timeout

            @tg.coroutine
            def one():
                raise tg.Return(value=1)

            @coroutine
            def two():
                x = yield one()
                raise Return(x + 1)
            """,
            """
            from tornado.gen import with_timeout

            async def one():
                return 1

            async def two():
                x = await one()
                return x + 1
            """,
        )

    def test_dotted_tornado_gen(self) -> None:
        self.convert(
            """
            import tornado.gen

            @tornado.gen.coroutine
            def one():
                yield tornado.gen.sleep(0.5)
                raise tornado.gen.Return(1)
            """,
            """
            import asyncio

            async def one():
                await asyncio.sleep(0.5)
                return 1
            """,
        )

    def test_gen_stays_imported_while_still_used(self) -> None:
        self.convert(
            """
            from tornado import gen

            @gen.coroutine
            def guarded(fut):
                result = yield gen.with_timeout(10, fut)
                raise gen.Return(result)
            """,
            """
            from tornado import gen

            async def guarded(fut):
                result = await gen.with_timeout(10, fut)
                return result
            """,
        )

    def test_noop_without_tornado_coroutines(self) -> None:
        self.noop(
            """
            from tornado import gen

            @gen.engine
            def old_style(callback):
                yield gen.Task(other)

            def helper():
                return gen.sleep(1)
            """
        )

    def test_noop_for_asyncio_coroutines_in_the_tornado_preset(self) -> None:
        self.noop(
            """
            import asyncio

            @asyncio.coroutine
            def f():
                yield from asyncio.sleep(1)
            """
        )

    def test_return_under_a_narrow_except_converts(self) -> None:
        self.convert(
            """
            from tornado import gen

            @gen.coroutine
            def parse(data):
                try:
                    raise gen.Return(int(data))
                except ValueError:
                    raise gen.Return(0)
            """,
            """
            async def parse(data):
                try:
                    return int(data)
                except ValueError:
                    return 0
            """,
        )

    def test_return_under_broad_except_is_refused(self) -> None:
        self.refuse(
            """
            from tornado import gen

            @gen.coroutine
            def parse(data):
                try:
                    value = yield decode(data)
                    raise gen.Return(value)
                except Exception:
                    log("failed")
                raise gen.Return(None)
            """,
            [r"^line 7: raise gen.Return\(\.\.\.\) inside a try whose broad except would catch it"],
        )

    def test_return_under_bare_except_or_except_return_is_refused(self) -> None:
        self.refuse(
            """
            from tornado import gen

            @gen.coroutine
            def a():
                try:
                    raise gen.Return(1)
                except:
                    pass

            @gen.coroutine
            def b():
                try:
                    raise gen.Return(1)
                except (KeyError, gen.Return):
                    pass
            """,
            [r"^line 6: raise gen.Return", r"^line 13: raise gen.Return"],
        )

    def test_return_in_nested_helper_is_refused(self) -> None:
        self.refuse(
            """
            from tornado import gen

            @gen.coroutine
            def outer():
                def finish(value):
                    raise gen.Return(value)
                data = yield load()
                finish(data)
            """,
            [
                r"^line 6: raise gen.Return\(\.\.\.\) in nested helper 'finish' ends the enclosing coroutine"
            ],
        )

    def test_coroutine_calling_a_module_helper_that_raises_return_is_refused(self) -> None:
        self.refuse(
            """
            from tornado import gen

            def finish(value):
                raise gen.Return(value)

            @gen.coroutine
            def outer():
                data = yield load()
                finish(data)
            """,
            [r"^line 9: finish\(\) raises gen.Return to end this coroutine \(line 4\)"],
        )

    def test_no_yield_coroutine_returns_its_value_unchanged(self) -> None:
        # Tornado's coroutine sets a plain function's return value as the
        # Future's result without awaiting it.
        self.convert(
            """
            from tornado import gen

            @gen.coroutine
            def cached(self, key):
                return self.cache[key]
            """,
            """
            async def cached(self, key):
                return self.cache[key]
            """,
        )


class TestHelpers(GenCase):
    PRESET = "tornado"

    def test_sleep_moment_and_bare_yields(self) -> None:
        self.convert(
            """
            from tornado import gen

            @gen.coroutine
            def ticker(n):
                for _ in range(n):
                    yield gen.sleep(0.1)
                    yield gen.moment
                    yield
                raise gen.Return(n)

            @gen.coroutine
            def constant():
                raise gen.Return(1)
                yield
            """,
            """
            import asyncio

            async def ticker(n):
                for _ in range(n):
                    await asyncio.sleep(0.1)
                    await asyncio.sleep(0)
                    await asyncio.sleep(0)
                return n

            async def constant():
                return 1
            """,
        )

    def test_yielded_lists_and_multi_become_gather(self) -> None:
        self.convert(
            """
            import asyncio
            from tornado import gen

            @gen.coroutine
            def all_of(urls):
                a, b = yield [fetch(urls[0]), fetch(urls[1])]
                pages = yield [fetch(u) for u in urls]
                futures = []
                for u in urls:
                    futures.append(fetch(u))
                more = yield futures
                again = yield gen.multi([fetch(u) for u in urls])
                raise gen.Return((a, b, pages, more, again))
            """,
            """
            import asyncio

            async def all_of(urls):
                a, b = await asyncio.gather(fetch(urls[0]), fetch(urls[1]))
                pages = await asyncio.gather(*[fetch(u) for u in urls])
                futures = []
                for u in urls:
                    futures.append(fetch(u))
                more = await asyncio.gather(*futures)
                again = await asyncio.gather(*[fetch(u) for u in urls])
                return (a, b, pages, more, again)
            """,
        )

    def test_yielded_dicts_become_a_dict_comprehension_of_gather(self) -> None:
        self.convert(
            """
            from tornado import gen

            @gen.coroutine
            def by_name(fetch):
                got = yield {"a": fetch("a"), "b": fetch("b")}
                jobs = {}
                jobs["c"] = fetch("c")
                more = yield gen.multi(jobs)
                one = yield {"only": fetch("x")}
                raise gen.Return((got, more, one))
            """,
            """
            import asyncio

            async def by_name(fetch):
                got = {k: v for k, v in zip(("a", "b"), await asyncio.gather(fetch("a"), fetch("b")))}
                jobs = {}
                jobs["c"] = fetch("c")
                more = {k: v for k, v in zip(jobs, await asyncio.gather(*jobs.values()))}
                one = {k: v for k, v in zip(("only",), await asyncio.gather(fetch("x")))}
                return (got, more, one)
            """,
        )

    def test_yielded_tuple_and_unknown_collections_are_refused(self) -> None:
        self.refuse(
            """
            from tornado import gen

            @gen.coroutine
            def a(x, y):
                yield x, y

            @gen.coroutine
            def b(futures):
                yield futures

            @gen.coroutine
            def c(items):
                yield {k: fetch(k) for k in items}
            """,
            [
                r"^line 5: a yielded tuple is not a Tornado yieldable",
                r"^line 9: cannot tell whether 'futures' holds a list",
                r"^line 13: a yielded dict comprehension",
            ],
        )

    def test_with_yield_lock_acquire_becomes_async_with(self) -> None:
        self.convert(
            """
            from tornado import gen

            @gen.coroutine
            def guarded(self):
                with (yield self.lock.acquire()):
                    yield self.write()
            """,
            """
            async def guarded(self):
                async with self.lock:
                    await self.write()
            """,
        )

    def test_with_mixing_plain_context_managers_is_refused(self) -> None:
        self.refuse(
            """
            from tornado import gen

            @gen.coroutine
            def guarded(self):
                with (yield self.lock.acquire()), open("f") as fh:
                    yield self.write(fh)
            """,
            [r"^line 5: a with statement mixing \(yield \.\.\.\) and plain context managers"],
        )


class TestEagerStart(GenCase):
    PRESET = "tornado"

    def test_start_several_then_yield_each_stays_concurrent(self) -> None:
        self.convert(
            """
            from tornado import gen

            @gen.coroutine
            def fetch(x):
                yield gen.sleep(x)
                raise gen.Return(x)

            @gen.coroutine
            def main():
                fa = fetch(1)
                fb = fetch(2)
                ra = yield fa
                rb = yield fb
                fetch(3)
                raise gen.Return(fetch(4))
            """,
            """
            import asyncio

            async def fetch(x):
                await asyncio.sleep(x)
                return x

            async def main():
                fa = asyncio.ensure_future(fetch(1))
                fb = asyncio.ensure_future(fetch(2))
                ra = await fa
                rb = await fb
                asyncio.ensure_future(fetch(3))
                return asyncio.ensure_future(fetch(4))
            """,
        )

    def test_call_without_yield_outside_a_coroutine_is_refused(self) -> None:
        self.refuse(
            """
            from tornado import gen

            class Handler:
                @gen.coroutine
                def background(self):
                    yield gen.sleep(1)

                def on_message(self, msg):
                    self.background()

            @gen.coroutine
            def main():
                yield gen.sleep(0)
            """,
            [
                r"^line 4: background\(\) is called without yield in the plain function 'on_message' \(line 9\)"
            ],
        )

    def test_other_receivers_and_shadowing_names_are_not_ours(self) -> None:
        # ``self.client.fetch(u)``, ``cache.get(key)`` and ``cfg.read(path)``
        # are methods of other objects; a parameter ``get`` is not the
        # module's ``get``: none of them blocks or wraps anything.
        self.convert(
            """
            from tornado import gen

            class Api:
                @gen.coroutine
                def fetch(self, u):
                    yield gen.sleep(0)

                @gen.coroutine
                def read(self, cfg, path):
                    cfg.read(path)
                    yield gen.sleep(0)

            @gen.coroutine
            def main(self, u):
                pending = self.client.fetch(u)
                value = self.cache.get(u)
                yield pending

            @gen.coroutine
            def get(key):
                yield gen.sleep(0)

            def plain(cache, key, get):
                get(key)
                return cache.get(key), [cache.get(key)]
            """,
            """
            import asyncio

            class Api:
                async def fetch(self, u):
                    await asyncio.sleep(0)

                async def read(self, cfg, path):
                    cfg.read(path)
                    await asyncio.sleep(0)

            async def main(self, u):
                pending = self.client.fetch(u)
                value = self.cache.get(u)
                await pending

            async def get(key):
                await asyncio.sleep(0)

            def plain(cache, key, get):
                get(key)
                return cache.get(key), [cache.get(key)]
            """,
        )

    def test_not_started_inside_an_unconverted_coroutine_says_so(self) -> None:
        self.refuse(
            """
            from tornado import gen

            @gen.coroutine
            def background():
                yield gen.sleep(1)

            @gen.coroutine
            def main():
                background()
                raise gen.Return((yield [background()]))

            @gen.coroutine
            def broken():
                try:
                    background()
                    raise gen.Return(1)
                except Exception:
                    pass
            """,
            [
                r"^line 3: background\(\) is called without yield in the coroutine 'broken', which is not converted \(line 15\)",
                r"^line 16: raise gen.Return\(\.\.\.\) inside a try whose broad except",
            ],
        )

    def test_runner_arguments_and_lambdas_are_fine(self) -> None:
        self.convert(
            """
            from tornado import gen
            from tornado.ioloop import IOLoop

            @gen.coroutine
            def main(n):
                yield gen.sleep(n)

            IOLoop.current().run_sync(lambda: main(1))
            IOLoop.current().spawn_callback(main, 2)
            """,
            """
            from tornado.ioloop import IOLoop
            import asyncio

            async def main(n):
                await asyncio.sleep(n)

            IOLoop.current().run_sync(lambda: main(1))
            IOLoop.current().spawn_callback(main, 2)
            """,
        )
