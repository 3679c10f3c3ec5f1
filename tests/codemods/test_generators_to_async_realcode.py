"""generators-to-async on idioms of real asyncio-era libraries (issue 15).

Each class is one defect class seen on real projects: names resolved
without scope, protocol methods, plain generators delegating to converted
coroutines, refused obvious awaitables, left-over decorator calls, and bad
input that must leave the file byte-identical.
"""

from __future__ import annotations

from libcst.codemod import CodemodContext
from test_generators_to_async import GenCase, run_codemod

from codemods._generators.module import rename_asyncio_async
from codemods.generators_to_async import GeneratorsToAsyncCommand


class TestScopes(GenCase):
    PRESET = "asyncio"

    def test_parameters_and_other_receivers_are_not_the_module_function(self) -> None:
        # pytest fixtures share their name with the test's parameter by design.
        self.convert(
            """
            import asyncio
            import aiomysql

            @asyncio.coroutine
            def connect(loop):
                yield from asyncio.sleep(0)

            @asyncio.coroutine
            def cursor():
                yield from asyncio.sleep(0)

            def plain_user(connect):
                conn = yield from connect()
                cur = yield from conn.cursor()
                pool = yield from aiomysql.create_pool()
                return cur, pool

            @asyncio.coroutine
            def test_q(connect):
                conn = yield from connect()
                yield from conn.cursor()
            """,
            """
            import asyncio
            import aiomysql

            async def connect(loop):
                await asyncio.sleep(0)

            async def cursor():
                await asyncio.sleep(0)

            def plain_user(connect):
                conn = yield from connect()
                cur = yield from conn.cursor()
                pool = yield from aiomysql.create_pool()
                return cur, pool

            async def test_q(connect):
                conn = await connect()
                await conn.cursor()
            """,
        )

    def test_a_local_assignment_shadows_too(self) -> None:
        self.convert(
            """
            import asyncio

            @asyncio.coroutine
            def fetch():
                yield from asyncio.sleep(0)

            def reader(session):
                fetch = session.fetch
                return (yield from fetch())
            """,
            """
            import asyncio

            async def fetch():
                await asyncio.sleep(0)

            def reader(session):
                fetch = session.fetch
                return (yield from fetch())
            """,
        )


class TestProtocolMethods(GenCase):
    PRESET = "asyncio"

    def test_iter_await_and_aiter_never_become_async_def(self) -> None:
        self.convert(
            """
            import asyncio

            class Ctx:
                @asyncio.coroutine
                def __iter__(self):
                    resp = yield from self._coro
                    return resp

                @asyncio.coroutine
                def __await__(self):
                    resp = yield from self._coro
                    return resp

                @asyncio.coroutine
                def __aiter__(self):
                    return self

                @asyncio.coroutine
                def __anext__(self):
                    return (yield from self._obj.__anext__())
            """,
            """
            import types

            class Ctx:
                @types.coroutine
                def __iter__(self):
                    resp = yield from self._coro
                    return resp

                def __await__(self):
                    resp = yield from self._coro.__await__()
                    return resp

                def __aiter__(self):
                    return self

                async def __anext__(self):
                    return (await self._obj.__anext__())
            """,
        )

    def test_plain_await_delegates_even_to_another_modules_coroutine(self) -> None:
        self.convert(
            """
            import asyncio

            class _ContextManager:
                def __init__(self, coro):
                    self._coro = coro

                def __await__(self):
                    resp = yield from self._coro
                    return resp
            """,
            """
            import asyncio

            class _ContextManager:
                def __init__(self, coro):
                    self._coro = coro

                def __await__(self):
                    resp = yield from self._coro.__await__()
                    return resp
            """,
        )

    def test_python34_awaitable_iter_gets_an_await_alias(self) -> None:
        self.convert(
            """
            import asyncio

            class Engine:
                @asyncio.coroutine
                def acquire(self):
                    yield from asyncio.sleep(0)

                def __iter__(self):
                    conn = yield from self.acquire()
                    return Releasing(self, conn)
            """,
            """
            import asyncio

            class Engine:
                async def acquire(self):
                    await asyncio.sleep(0)

                def __iter__(self):
                    conn = yield from self.acquire().__await__()
                    return Releasing(self, conn)
                __await__ = __iter__
            """,
        )

    def test_noop_for_a_data_iterator(self) -> None:
        self.noop(
            """
            import asyncio

            class Rows:
                def __iter__(self):
                    yield from self._rows
            """
        )


class TestReturns(GenCase):
    PRESET = "asyncio"

    def test_aenter_returning_self_and_obvious_awaitables(self) -> None:
        self.convert(
            """
            import asyncio as aio

            class Pool:
                @aio.coroutine
                def __aenter__(self):
                    return self

                @aio.coroutine
                def later(self, loop):
                    fut = loop.create_future()
                    return fut

                @aio.coroutine
                def made(self):
                    return aio.Future()

                @aio.coroutine
                def scheduled(self):
                    return aio.ensure_future(self.later(None))
            """,
            """
            import asyncio as aio

            class Pool:
                async def __aenter__(self):
                    return self

                async def later(self, loop):
                    fut = loop.create_future()
                    return await fut

                async def made(self):
                    return await aio.Future()

                async def scheduled(self):
                    return await aio.ensure_future(self.later(None))
            """,
        )

    def test_self_of_an_awaitable_class_was_awaited(self) -> None:
        # asyncio.coroutine awaited a returned object that has __await__.
        self.convert(
            """
            import asyncio

            class Pool:
                def __await__(self):
                    return (yield from self.acquire())

                @asyncio.coroutine
                def __aenter__(self):
                    return self
            """,
            """
            class Pool:
                def __await__(self):
                    return (yield from self.acquire().__await__())

                async def __aenter__(self):
                    return await self
            """,
        )

    def test_maybe_awaitable_refuses_the_file_by_default(self) -> None:
        self.refuse(
            """
            import asyncio

            @asyncio.coroutine
            def make(factory, conn):
                return factory(conn)

            @asyncio.coroutine
            def other():
                yield from asyncio.sleep(0)
            """,
            [r"^line 5: this coroutine has no yield and returns a value that may be awaitable"],
        )

    def test_maybe_awaitable_with_the_run_time_check_option(self) -> None:
        context = CodemodContext(filename="x.py")
        source = "import asyncio\n\n@asyncio.coroutine\ndef make(factory, conn):\n    return factory(conn)\n"
        import libcst as cst

        tree = cst.parse_module(source)
        command = GeneratorsToAsyncCommand(context, preset="asyncio", awaitable_returns="check")
        out = command.transform_module(tree).code
        assert out == (
            "import inspect\n\nasync def make(factory, conn):\n"
            "    return (await _returned) if inspect.isawaitable(_returned := factory(conn)) "
            "else _returned\n"
        )
        assert len(context.warnings) == 1 and "run-time test" in context.warnings[0]


class TestHelpers(GenCase):
    PRESET = "asyncio"

    def test_generator_handed_to_a_runner_becomes_async_def(self) -> None:
        self.convert(
            """
            import asyncio

            @asyncio.coroutine
            def query(pool):
                yield from pool.execute("SELECT 1")

            def test_query(loop, pool):
                def go():
                    yield from query(pool)
                loop.run_until_complete(go())
            """,
            """
            async def query(pool):
                await pool.execute("SELECT 1")

            def test_query(loop, pool):
                async def go():
                    await query(pool)
                loop.run_until_complete(go())
            """,
        )

    def test_generator_also_iterated_as_data_stays_and_its_consumer_is_refused(self) -> None:
        self.refuse(
            """
            import asyncio

            def steps():
                yield from other()

            @asyncio.coroutine
            def run():
                yield from steps()

            def count():
                return list(steps())
            """,
            [r"^line 8: yield from steps\(\) delegates to the plain generator 'steps' \(line 3\)"],
        )

    def test_coroutine_decorator_hint_aliased(self) -> None:
        source = "import pytest as pt\n\n@pt.mark.run_loop\ndef test_x(redis):\n    yield from redis.ping()\n"
        context = CodemodContext(filename="x.py")
        import libcst as cst

        tree = cst.parse_module(source)
        out = GeneratorsToAsyncCommand(
            context, preset="asyncio", coroutine_decorators=["pytest.mark.run_loop"]
        ).transform_module(tree)
        assert out.code == source.replace("def test_x", "async def test_x").replace(
            "yield from", "await"
        )
        _, plain, _ = run_codemod(source, "asyncio")
        assert plain.code == source  # without the hint nothing says it is a coroutine


class TestLeftOvers(GenCase):
    PRESET = "asyncio"

    def test_decorator_used_as_a_call_gets_a_stand_in(self) -> None:
        _, out, warnings = run_codemod(
            "import asyncio\n\n\ndef run_loop(fun):\n"
            "    if not asyncio.iscoroutinefunction(fun):\n"
            "        fun = asyncio.coroutine(fun)\n    return fun\n",
            "asyncio",
        )
        assert warnings == []
        code = out.code
        assert "fun = _coroutine_function(fun)" in code
        assert "def _coroutine_function(func):" in code
        assert "import functools" in code and "import inspect" in code and "import types" in code
        namespace: dict[str, object] = {}
        exec(compile(code, "converted", "exec"), namespace)

    def test_task_current_task_becomes_asyncio_current_task(self) -> None:
        _, out, _ = run_codemod(
            "import asyncio as aio\n\ndef f(loop):\n    return aio.Task.current_task(loop=loop)\n",
            "asyncio",
        )
        assert out.code == (
            "import asyncio as aio\n\ndef f(loop):\n    return aio.current_task(loop=loop)\n"
        )
        _, same, _ = run_codemod(
            "import asyncio\n\ndef f(task):\n    return task.Task.current_task()\n", "asyncio"
        )
        assert "task.Task.current_task()" in same.code

    def test_removed_import_leaves_no_blank_lines_at_the_top(self) -> None:
        _, out, _ = run_codemod(
            "import asyncio\n\n\n@asyncio.coroutine\ndef f(x):\n    yield from x\n", "asyncio"
        )
        assert out.code == "async def f(x):\n    await x\n"

    def test_asyncio_async_is_respelled_before_the_parse(self) -> None:
        source = 'try:\n    f = asyncio.ensure_future\nexcept AttributeError:\n    f = asyncio.async  # asyncio.async\ns = "asyncio.async"\n'
        assert rename_asyncio_async(source) == source.replace(
            "f = asyncio.async ", "f = asyncio.ensure_future "
        )
        assert rename_asyncio_async("x = 1\n") == "x = 1\n"


class TestBadInput(GenCase):
    PRESET = "asyncio"

    def test_file_mixing_presets(self) -> None:
        self.refuse(
            """
            import asyncio
            from tornado import gen

            @asyncio.coroutine
            def a():
                yield from asyncio.sleep(0)

            @gen.coroutine
            def b():
                yield gen.sleep(0)
            """,
            [r"^line 8: this file mixes asyncio and tornado generator coroutines"],
        )

    def test_decorated_twice(self) -> None:
        self.refuse(
            """
            import asyncio

            @asyncio.coroutine
            @asyncio.coroutine
            def twice():
                yield from asyncio.sleep(0)
            """,
            [r"^line 4: twice\(\) is under two coroutine decorators"],
        )

    def test_coroutine_iterated_as_data_elsewhere(self) -> None:
        self.refuse(
            """
            import asyncio

            @asyncio.coroutine
            def rows():
                yield from asyncio.sleep(0)

            def dump():
                for row in rows():
                    print(row)
            """,
            [r"^line 4: rows\(\) is a coroutine, but its result is iterated as data at line 8"],
        )
