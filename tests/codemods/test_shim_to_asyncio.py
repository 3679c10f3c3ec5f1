"""Before/after pairs for shim-to-asyncio: runtime calls move, connections stay on shims."""

from __future__ import annotations

from libcst.codemod import CodemodTest

from codemods import ShimToAsyncioCommand


class TestShimToAsyncio(CodemodTest):
    TRANSFORM = ShimToAsyncioCommand

    def test_runtime_calls(self) -> None:
        before = """
            import shims

            async def main(a, b):
                await shims.sleep(seconds=0.1)
                t = shims.spawn(work())
                await shims.gather(a, b, return_exceptions=True)
                await shims.wait_for(t, 2)
                await shims.wait_for(aw=t, seconds=2)
                async with shims.timeout(3):
                    pass
                lock, ev, q = shims.Lock(), shims.Event(), shims.Queue(maxsize=3)
                h = shims.call_later(1, print, "x")
                started = shims.monotonic()
        """
        after = """
            import asyncio
            import time

            async def main(a, b):
                await asyncio.sleep(delay=0.1)
                t = asyncio.create_task(work())
                await asyncio.gather(a, b, return_exceptions=True)
                await asyncio.wait_for(t, 2)
                await asyncio.wait_for(fut=t, timeout=2)
                async with asyncio.timeout(3):
                    pass
                lock, ev, q = asyncio.Lock(), asyncio.Event(), asyncio.Queue(maxsize=3)
                h = asyncio.get_running_loop().call_later(1, print, "x")
                started = time.monotonic()
        """
        self.assertCodemod(before, after, expected_warnings=[])

    def test_connections_pools_and_errors_stay(self) -> None:
        before = """
            import shims

            async def main():
                conn = await shims.connect("127.0.0.1", 1, timeout=1.0)
                pool = shims.ConnectionPool(connect, max_size=2)
                try:
                    await shims.sleep(1)
                except shims.PeerClosedError:
                    pass
        """
        after = """
            import shims
            import asyncio

            async def main():
                conn = await shims.connect("127.0.0.1", 1, timeout=1.0)
                pool = shims.ConnectionPool(connect, max_size=2)
                try:
                    await asyncio.sleep(1)
                except shims.PeerClosedError:
                    pass
        """
        self.assertCodemod(before, after, expected_warnings=[])

    def test_run_drops_service_and_calls_main(self) -> None:
        before = """
            import shims

            shims.run(main, service="pdf-export")
            shims.run(main, 1, 2, backend="asyncio")
            shims.run(main())
        """
        after = """
            import asyncio

            asyncio.run(main())
            asyncio.run(main(1, 2))
            asyncio.run(main())
        """
        self.assertCodemod(before, after, expected_warnings=[])

    def test_run_refused_for_other_backends(self) -> None:
        code = """
            import shims

            shims.run(main, backend="uvloop")
            shims.run(main, backend=chosen)
            shims.run(main, **options)
        """
        self.assertCodemod(
            code,
            code,
            expected_warnings=[
                'line 3: shims.run(backend="uvloop") cannot be converted: only '
                "backend='asyncio' has the same meaning",
                "line 4: shims.run(backend=chosen) cannot be converted: only "
                "backend='asyncio' has the same meaning",
                "line 5: shims.run(**...) hides which keywords are passed; left unchanged",
            ],
        )

    def test_aliased_from_imports(self) -> None:
        before = """
            from shims import sleep as nap, spawn, connect, monotonic

            async def main():
                await nap(1)
                t = spawn(connect("h", 1))
                return t, monotonic()
        """
        after = """
            from shims import connect
            from asyncio import sleep as nap, create_task
            from time import monotonic

            async def main():
                await nap(1)
                t = create_task(connect("h", 1))
                return t, monotonic()
        """
        self.assertCodemod(before, after, expected_warnings=[])

    def test_call_later_used_as_value_refused(self) -> None:
        code = """
            import shims
            schedule = shims.call_later
        """
        self.assertCodemod(
            code,
            code,
            expected_warnings=[
                "line 2: shims.call_later is used without being called; "
                "asyncio.get_running_loop().call_later takes different arguments, "
                "so rewrite this use by hand"
            ],
        )

    def test_noop_without_runtime_calls(self) -> None:
        code = """
            import shims

            async def handle(conn: shims.Connection) -> None:
                await conn.write(b"x")
                raise shims.ConnectError("down")
        """
        self.assertCodemod(code, code, expected_warnings=[])

    def test_asyncio_name_shadowed_refused(self) -> None:
        code = """
            import shims

            def f(asyncio):
                return shims.Lock()
        """
        self.assertCodemod(
            code,
            code,
            expected_warnings=[
                "line 4: the name 'asyncio' is used for something else in this file, so "
                "shims.Lock cannot become asyncio.Lock; left unchanged"
            ],
        )

    def test_discarded_spawn_refused(self) -> None:
        before = """
            import shims

            async def main():
                shims.spawn(work())
                task = shims.spawn(work())
                await task
        """
        after = """
            import shims
            import asyncio

            async def main():
                shims.spawn(work())
                task = asyncio.create_task(work())
                await task
        """
        self.assertCodemod(
            before,
            after,
            expected_warnings=[
                "line 4: the result of shims.spawn() is discarded: asyncio keeps only a weak "
                "reference to tasks; store the task (e.g. in a set) first"
            ],
        )

    def test_run_parenthesizes_what_it_calls(self) -> None:
        before = """
            import shims
            shims.run(lambda: main(1))
            shims.run(factory or main)
        """
        after = """
            import asyncio
            asyncio.run((lambda: main(1))())
            asyncio.run((factory or main)())
        """
        self.assertCodemod(before, after, expected_warnings=[])


class TestEveryRule(CodemodTest):
    TRANSFORM = ShimToAsyncioCommand

    def test_look_alikes_of_every_rule_are_untouched(self) -> None:
        for name in ShimToAsyncioCommand.load().rules:
            with self.subTest(name=name):
                code = f"""
                    import shimmer as shims
                    from other import {name}

                    def f(obj):
                        {name}(1)
                        obj.{name}(2)
                        return shims.{name}(3)
                """
                self.assertCodemod(code, code, expected_warnings=[])

    def test_aliased_module_and_names(self) -> None:
        before = """
            import shims as sh
            from shims import Lock as Mutex, Event, Queue as Q, gather as all_of, timeout

            async def main(a, b):
                m, e, q = Mutex(), Event(), Q(1)
                async with timeout(1):
                    await all_of(a, b)
                await sh.wait_for(a, 1)
                t = sh.spawn(b)
                h = sh.call_later(0.1, e.set)
                return t, h, sh.monotonic(), sh.run
        """
        after = """
            import shims as sh
            import asyncio
            import time
            from asyncio import Lock as Mutex, Event, Queue as Q, gather as all_of, timeout

            async def main(a, b):
                m, e, q = Mutex(), Event(), Q(1)
                async with timeout(1):
                    await all_of(a, b)
                await asyncio.wait_for(a, 1)
                t = asyncio.create_task(b)
                h = asyncio.get_running_loop().call_later(0.1, e.set)
                return t, h, time.monotonic(), sh.run
        """
        self.assertCodemod(
            before,
            after,
            expected_warnings=[
                "line 11: shims.run is used without being called; asyncio.run takes different "
                "arguments, so rewrite this use by hand"
            ],
        )
