"""generators-to-async, preset legacy: ``@runtime.coroutine`` generators from ``legacy.runtime``."""

from __future__ import annotations

from test_generators_to_async import GenCase


class TestDecoratorAndImports(GenCase):
    PRESET = "legacy"

    def test_from_legacy_import_runtime(self) -> None:
        self.convert(
            """
            from legacy import runtime

            @runtime.coroutine
            def fetch(n):
                value = yield runtime.sleep(0.01, result=n)
                yield runtime.sleep(0)
                return value * 2
            """,
            """
            from legacy import runtime

            async def fetch(n):
                value = await runtime.sleep(0.01, result=n)
                await runtime.sleep(0)
                return value * 2
            """,
        )

    def test_import_legacy_runtime_as_alias(self) -> None:
        self.convert(
            """
            import legacy.runtime as rt

            @rt.coroutine
            def fetch():
                return (yield rt.sleep(0, result=1))
            """,
            """
            import legacy.runtime as rt

            async def fetch():
                return (await rt.sleep(0, result=1))
            """,
        )

    def test_import_legacy_runtime_dotted(self) -> None:
        self.convert(
            """
            import legacy.runtime

            @legacy.runtime.coroutine
            def fetch():
                x = yield other()
                return x
            """,
            """

            async def fetch():
                x = await other()
                return x
            """,
        )

    def test_from_runtime_import_coroutine_removed_when_unused(self) -> None:
        self.convert(
            """
            from legacy.runtime import coroutine, sleep

            @coroutine
            def fetch():
                yield sleep(1)
            """,
            """
            from legacy.runtime import sleep

            async def fetch():
                await sleep(1)
            """,
        )

    def test_from_runtime_import_coroutine_as_alias(self) -> None:
        self.convert(
            """
            from legacy.runtime import coroutine as co
            import other

            @co
            def fetch():
                yield other.thing()
            """,
            """
            import other

            async def fetch():
                await other.thing()
            """,
        )

    def test_noop_other_coroutine_decorators_and_plain_generators(self) -> None:
        self.noop(
            """
            from mylib import coroutine
            import legacy.runtime as rt

            @coroutine
            def not_ours():
                yield rt.sleep(1)

            def numbers():
                yield 1
            """
        )

    def test_noop_when_the_name_is_shadowed(self) -> None:
        self.noop(
            """
            from legacy import runtime
            runtime = make_fake_runtime()

            @runtime.coroutine
            def fetch():
                yield runtime.sleep(1)
            """
        )

    def test_stacked_decorators_remove_only_the_coroutine_one(self) -> None:
        self.convert(
            """
            from legacy import runtime

            class Service:
                @staticmethod
                # keep me
                @runtime.coroutine
                @traced
                def handle(req):
                    reply = yield runtime.sleep(0, result=req)
                    return reply
            """,
            """
            from legacy import runtime

            class Service:
                @staticmethod
                # keep me
                @traced
                async def handle(req):
                    reply = await runtime.sleep(0, result=req)
                    return reply
            """,
        )


class TestYields(GenCase):
    PRESET = "legacy"

    def test_yield_from_another_coroutine_becomes_await(self) -> None:
        self.convert(
            """
            from legacy import runtime

            @runtime.coroutine
            def inner():
                return 1
                yield

            @runtime.coroutine
            def outer():
                x = yield from inner()
                return x + (yield inner())
            """,
            """
            async def inner():
                return 1

            async def outer():
                x = await inner()
                return x + (await inner())
            """,
        )

    def test_bare_yield_only_to_make_a_generator_is_dropped(self) -> None:
        self.convert(
            """
            from legacy import runtime

            @runtime.coroutine
            def constant():
                if False:
                    yield
                return 42

            @runtime.coroutine
            def after_raise():
                raise ValueError("no")
                yield
            """,
            """
            async def constant():
                return 42

            async def after_raise():
                raise ValueError("no")
            """,
        )

    def test_reachable_bare_yield_is_a_scheduling_point(self) -> None:
        # legacy.runtime treats ``yield None`` as "run again next turn".
        self.convert(
            """
            from legacy.runtime import coroutine

            @coroutine
            def polite(items):
                for item in items:
                    process(item)
                    yield
            """,
            """
            from legacy import runtime

            async def polite(items):
                for item in items:
                    process(item)
                    await runtime.sleep(0)
            """,
        )

    def test_yielded_list_and_tuple_wait_for_all(self) -> None:
        self.convert(
            """
            from legacy import runtime as rt

            @rt.coroutine
            def both(a, b):
                results = []
                results.append(a())
                x, y = yield [a(), b()]
                z = yield (a(), b())
                rest = yield results
                return x, y, z, rest
            """,
            """
            from legacy import runtime as rt

            async def both(a, b):
                results = []
                results.append(a())
                x, y = await rt.wait_all([a(), b()])
                z = await rt.wait_all((a(), b()))
                rest = await rt.wait_all(results)
                return x, y, z, rest
            """,
        )

    def test_yield_precedence_gets_parentheses(self) -> None:
        self.convert(
            """
            from legacy import runtime

            @runtime.coroutine
            def pick(flag, a, b):
                value = yield a if flag else b
                return value
            """,
            """
            async def pick(flag, a, b):
                value = await (a if flag else b)
                return value
            """,
        )

    def test_nested_plain_generators_and_lambdas_are_left_alone(self) -> None:
        self.convert(
            """
            from legacy import runtime

            @runtime.coroutine
            def outer():
                def numbers():
                    yield 1
                    yield 2
                pump = lambda: (yield)
                total = yield runtime.sleep(0, result=sum(numbers()))
                return total, pump

            @runtime.coroutine
            def host():
                @runtime.coroutine
                def child():
                    yield runtime.sleep(0)
                yield child()
            """,
            """
            from legacy import runtime

            async def outer():
                def numbers():
                    yield 1
                    yield 2
                pump = lambda: (yield)
                total = await runtime.sleep(0, result=sum(numbers()))
                return total, pump

            async def host():
                async def child():
                    await runtime.sleep(0)
                await child()
            """,
        )

    def test_function_without_yield_keeps_its_return_value(self) -> None:
        # legacy.runtime.coroutine hands a plain function's result through
        # unchanged (no await), so the async def returns the same object.
        self.convert(
            """
            from legacy import runtime

            @runtime.coroutine
            def cached(key):
                return runtime.sleep(0, result=key)
            """,
            """
            from legacy import runtime

            async def cached(key):
                return runtime.sleep(0, result=key)
            """,
        )


class TestRefusals(GenCase):
    PRESET = "legacy"

    def test_yielded_dict_is_refused(self) -> None:
        self.refuse(
            """
            from legacy import runtime

            @runtime.coroutine
            def both(a, b):
                got = yield {"a": a(), "b": b()}
                return got
            """,
            [r"^line 5: the legacy runtime does not wait for a yielded dict"],
        )

    def test_consumed_by_a_plain_generator_is_refused(self) -> None:
        self.refuse(
            """
            from legacy import runtime

            @runtime.coroutine
            def step():
                yield runtime.sleep(0)

            def pipeline():
                yield from step()
            """,
            [
                r"^line 3: 'step' is consumed with yield from by a plain generator 'pipeline' \(line 8\)"
            ],
        )

    def test_consumed_by_iter_refuses_the_whole_file(self) -> None:
        # One refusal leaves the file byte-identical: a half-converted file
        # would still hold a decorator that may not import on a new Python.
        self.refuse(
            """
            from legacy import runtime

            class Job:
                @runtime.coroutine
                def run(self):
                    yield runtime.sleep(0)

                def __iter__(self):
                    return (yield from self.run())

            @runtime.coroutine
            def unrelated():
                yield runtime.sleep(0)
            """,
            [r"^line 4: 'run' is consumed with yield from by __iter__ \(line 9\)"],
        )

    def test_with_yield_is_refused(self) -> None:
        self.refuse(
            """
            from legacy import runtime

            @runtime.coroutine
            def locked(lock):
                with (yield lock.acquire()):
                    pass
            """,
            [r"^line 5: with \(yield \.\.\.\) of a form this preset does not know"],
        )

    def test_yield_list_with_unpacking_is_refused(self) -> None:
        self.refuse(
            """
            from legacy import runtime

            @runtime.coroutine
            def many(first, rest):
                yield [first, *rest]
            """,
            [r"^line 5: a yielded list with \*unpacking"],
        )

    def test_yielded_parameter_of_unknown_kind_is_refused(self) -> None:
        self.refuse(
            """
            from legacy import runtime

            @runtime.coroutine
            def wait(things):
                return (yield things)
            """,
            [r"^line 5: cannot tell whether 'things' holds a list, a dict or an awaitable"],
        )
