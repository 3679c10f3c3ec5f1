"""generators-to-async --preset twisted: before/after pairs, refusals, callers kept working."""

from __future__ import annotations

import libcst as cst
from libcst.codemod import CodemodContext
from test_generators_to_async import GenCase, run_codemod

from codemods._generators.presets import PRESETS
from codemods.generators_to_async import GeneratorsToAsyncCommand

API = r"public API: {}\(\) now returns a coroutine, not a Deferred"


class TestTwistedPreset(GenCase):
    PRESET = "twisted"

    def test_module_form_yield_and_return_value(self) -> None:
        self.convert(
            """
            from twisted.internet import defer

            @defer.inlineCallbacks
            def fetch(conn, key):
                value = yield conn.get(key)
                if value is None:
                    defer.returnValue(0)
                defer.returnValue(int(value))
            """,
            """
            async def fetch(conn, key):
                value = await conn.get(key)
                if value is None:
                    return 0
                return int(value)
            """,
            [API.format("fetch")],
        )

    def test_aliased_names_and_stacked_decorators(self) -> None:
        self.convert(
            """
            import functools
            from twisted.internet.defer import inlineCallbacks as ic, returnValue as rv

            class Store:
                @staticmethod
                @ic
                def _load(conn):
                    rows = yield conn.query("select 1")
                    rv(rows)
            """,
            """
            import functools

            class Store:
                @staticmethod
                async def _load(conn):
                    rows = await conn.query("select 1")
                    return rows
            """,
        )

    def test_no_twisted_is_a_no_op(self) -> None:
        self.noop(
            """
            import asyncio

            async def main():
                await asyncio.sleep(0)
            """
        )

    def test_callers_get_a_deferred(self) -> None:
        self.convert(
            """
            from twisted.internet import defer

            class Client:
                @defer.inlineCallbacks
                def _get(self, key):
                    value = yield self.conn.get(key)
                    return value

                def both(self):
                    return defer.gatherResults([self._get("a"), self._get("b")])

                def later(self):
                    d = self._get("x")
                    d.addCallback(print)
                    return d

                @defer.inlineCallbacks
                def _twice(self):
                    yield self._get("y")
                    results = yield defer.DeferredList([self._get("z")])
                    return results
            """,
            """
            from twisted.internet import defer

            class Client:
                async def _get(self, key):
                    value = await self.conn.get(key)
                    return value

                def both(self):
                    return defer.gatherResults([defer.ensureDeferred(self._get("a")), defer.ensureDeferred(self._get("b"))])

                def later(self):
                    d = defer.ensureDeferred(self._get("x"))
                    d.addCallback(print)
                    return d

                async def _twice(self):
                    await self._get("y")
                    results = await defer.DeferredList([defer.ensureDeferred(self._get("z"))])
                    return results
            """,
        )

    def test_wrapper_import_is_added_when_defer_is_not_bound(self) -> None:
        self.convert(
            """
            from twisted.internet.defer import inlineCallbacks

            @inlineCallbacks
            def _work(d):
                yield d

            def start(d):
                return _work(d)
            """,
            """
            from twisted.internet import defer

            async def _work(d):
                await d

            def start(d):
                return defer.ensureDeferred(_work(d))
            """,
        )

    def test_trial_test_methods_are_not_reported(self) -> None:
        self.convert(
            """
            from twisted.internet import defer
            from twisted.trial import unittest

            class T(unittest.TestCase):
                @defer.inlineCallbacks
                def setUp(self):
                    self.db = yield connect()

                @defer.inlineCallbacks
                def test_get(self):
                    v = yield self.db.get("k")
                    self.assertEqual(v, 1)
            """,
            """
            from twisted.trial import unittest

            class T(unittest.TestCase):
                async def setUp(self):
                    self.db = await connect()

                async def test_get(self):
                    v = await self.db.get("k")
                    self.assertEqual(v, 1)
            """,
        )

    def test_plain_value_yields_are_refused(self) -> None:
        self.refuse(
            """
            from twisted.internet import defer

            @defer.inlineCallbacks
            def f(a, b):
                x = yield 3

            @defer.inlineCallbacks
            def g(a, b):
                both = yield [a, b]

            @defer.inlineCallbacks
            def h():
                yield None

            @defer.inlineCallbacks
            def k():
                yield
            """,
            [
                r"line 5: yield of a plain value: inlineCallbacks hands it straight back",
                r"line 9: yield of a list: .*use gatherResults\(\) or DeferredList\(\)",
                r"line 13: yield of a plain value",
                r"line 17: a bare yield in @inlineCallbacks hands None straight back",
            ],
        )

    def test_return_value_under_bare_except_or_in_helper_is_refused(self) -> None:
        self.refuse(
            """
            from twisted.internet import defer

            @defer.inlineCallbacks
            def f(d):
                try:
                    v = yield d
                    defer.returnValue(v)
                except:
                    pass

            @defer.inlineCallbacks
            def g(d):
                def done(v):
                    defer.returnValue(v)
                v = yield d
                done(v)

            @defer.inlineCallbacks
            def h(d):
                return (yield d) or defer.returnValue(1)

            @defer.inlineCallbacks
            def k(db):
                with db.transaction():
                    yield db.run("update t set n = n + 1")
                    defer.returnValue(1)
            """,
            [
                r"line 7: returnValue\(\) raises a BaseException that the bare except",
                r"line 14: returnValue\(\) in a nested function ends the enclosing",
                r"line 20: returnValue\(\) used inside an expression",
                r"line 26: returnValue\(\) inside a with block: its context manager sees a BaseException",
            ],
        )

    def test_return_value_under_except_exception_converts(self) -> None:
        self.convert(
            """
            from twisted.internet import defer

            @defer.inlineCallbacks
            def _f(d):
                try:
                    v = yield d
                    defer.returnValue(v)
                except Exception:
                    defer.returnValue(None)
            """,
            """
            async def _f(d):
                try:
                    v = await d
                    return v
                except Exception:
                    return None
            """,
        )

    def test_decorated_framework_callback_cooperate_and_callbacks_are_refused(self) -> None:
        self.refuse(
            """
            from twisted.internet import defer, task
            from twisted.internet.protocol import Protocol

            class P(Protocol):
                @logged
                @defer.inlineCallbacks
                def connectionMade(self):
                    yield self.factory.ready

            @defer.inlineCallbacks
            def work(items):
                for item in items:
                    yield item

            @defer.inlineCallbacks
            def tick(d):
                yield d

            def start(d, items):
                task.cooperate(work(items))
                d.addCallback(tick)
            """,
            [
                r"line 7: connectionMade\(\) overrides a Twisted callback whose caller needs a "
                r"Deferred, and it cannot keep returning one: it has another decorator",
                r"line 20: work\(\) is handed to cooperate\(\), which iterates a generator",
                r"line 21: tick is passed as a value \(a callback\?\)",
            ],
        )

    def test_maybe_deferred_accepts_a_coroutine_function(self) -> None:
        self.convert(
            """
            from twisted.internet import defer

            @defer.inlineCallbacks
            def _tick(d):
                yield d

            def start(d):
                return defer.maybeDeferred(_tick, d)
            """,
            """
            from twisted.internet import defer

            async def _tick(d):
                await d

            def start(d):
                return defer.maybeDeferred(_tick, d)
            """,
        )

    def test_trial_add_cleanup_accepts_a_coroutine_function(self) -> None:
        self.convert(
            """
            from twisted.internet import defer
            from twisted.trial.unittest import TestCase

            class T(TestCase):
                @defer.inlineCallbacks
                def setUp(self):
                    self.db = yield connect()
                    self.addCleanup(self._drop)

                @defer.inlineCallbacks
                def _drop(self):
                    yield self.db.close()
            """,
            """
            from twisted.trial.unittest import TestCase

            class T(TestCase):
                async def setUp(self):
                    self.db = await connect()
                    self.addCleanup(self._drop)

                async def _drop(self):
                    await self.db.close()
            """,
        )

    def test_mixed_styles_refuse(self) -> None:
        self.refuse(
            """
            from twisted.internet import defer

            @defer.inlineCallbacks
            async def f(d):
                await d
            """,
            [r"line 4: f\(\) is already an async def under @inlineCallbacks"],
        )


class TestKeepApi(GenCase):
    PRESET = "twisted"

    def test_public_function_keeps_returning_a_deferred(self) -> None:
        source = self.make_fixture_data(
            """
            from twisted.internet import defer

            class Client:
                @defer.inlineCallbacks
                def get(self, key, *rest, default=None, **kw):
                    \"\"\"Fetch one key.\"\"\"
                    value = yield self.conn.get(key)
                    defer.returnValue(value if value is not None else default)

                def many(self):
                    return [self.get(k) for k in "ab"]
            """
        )
        context = CodemodContext(filename="sample.py")
        out = GeneratorsToAsyncCommand(context, preset="twisted", keep_api=True).transform_module(
            cst.parse_module(source)
        )
        assert out.code == self.make_fixture_data(
            """
            from twisted.internet import defer

            class Client:
                def get(self, key, *rest, default=None, **kw):
                    \"\"\"Fetch one key.\"\"\"
                    async def get(self, key, *rest, default, **kw):
                        value = await self.conn.get(key)
                        return value if value is not None else default
                    return defer.ensureDeferred(get(self, key, *rest, default=default, **kw))

                def many(self):
                    return [self.get(k) for k in "ab"]
            """
        )
        assert context.warnings == []


def test_preset_is_one_table_entry() -> None:
    preset = PRESETS["twisted"]
    assert preset.decorators == {"twisted.internet.defer.inlineCallbacks"}
    assert preset.return_calls == {"twisted.internet.defer.returnValue"}
    assert preset.wrapper == "twisted.internet.defer.ensureDeferred"
    tree, out, warnings = run_codemod(b"from twisted.internet import defer\n", "twisted")
    assert out is tree and warnings == []
