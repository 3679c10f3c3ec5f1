"""generators-to-async --preset twisted: framework callbacks and receivers the run cannot identify.

Each rewrite is checked as text (before/after, refusals byte-identical) and
run: the converted module is executed under Twisted and must give what the
``@inlineCallbacks`` original gave, for a receiver that is the converted
class and for one that is not.
"""

from __future__ import annotations

import textwrap
from typing import Any

import libcst as cst
import pytest
from libcst.codemod import CodemodContext
from test_generators_to_async import GenCase, run_codemod

from codemods.generators_to_async import GeneratorsToAsyncCommand

defer = pytest.importorskip("twisted.internet.defer")


def _convert(source: str, *, keep_api: bool = False) -> tuple[str, list[str]]:
    context = CodemodContext(filename="sample.py")
    source = textwrap.dedent(source)
    tree = cst.parse_module(source)
    out = GeneratorsToAsyncCommand(context, preset="twisted", keep_api=keep_api).transform_module(
        tree
    )
    return out.code, list(context.warnings)


def _run(code: str) -> dict[str, Any]:
    namespace: dict[str, Any] = {"__name__": "sample"}
    exec(compile(code, "sample.py", "exec"), namespace)
    return namespace


def _result(d: Any) -> Any:
    """The result of an already fired Deferred (no reactor runs here)."""
    assert isinstance(d, defer.Deferred), d
    box: list[Any] = []
    d.addBoth(box.append)
    assert box, "the Deferred has not fired"
    return box[0]


CALLBACK = """
from twisted.internet import defer
from twisted.internet.protocol import Protocol

class P(Protocol):
    def __init__(self, ready):
        self.ready = ready
        self.log = []

    @defer.inlineCallbacks
    def connectionMade(self):
        self.log.append("started")
        value = yield self.ready
        self.log.append(value)
        return value * 2
"""


class TestFrameworkCallback(GenCase):
    PRESET = "twisted"

    def test_callback_converts_and_keeps_returning_a_deferred(self) -> None:
        self.convert(
            CALLBACK,
            """
            from twisted.internet import defer
            from twisted.internet.protocol import Protocol

            class P(Protocol):
                def __init__(self, ready):
                    self.ready = ready
                    self.log = []

                def connectionMade(self):
                    async def connectionMade(self):
                        self.log.append("started")
                        value = await self.ready
                        self.log.append(value)
                        return value * 2
                    return defer.ensureDeferred(connectionMade(self))
            """,
        )

    def test_callback_naming_itself_is_refused(self) -> None:
        self.refuse(
            """
            from twisted.internet import defer
            from twisted.internet.protocol import Protocol

            def connectionMade(p):
                return p.factory.ready

            class P(Protocol):
                @defer.inlineCallbacks
                def connectionMade(self):
                    yield connectionMade(self)
            """,
            [
                r"line 9: connectionMade\(\) overrides a Twisted callback .* its body names "
                r"'connectionMade', which the async closure of the same name would shadow"
            ],
        )

    def test_async_callback_under_inline_callbacks_is_refused_once(self) -> None:
        self.refuse(
            """
            from twisted.internet import defer
            from twisted.internet.protocol import Protocol

            class P(Protocol):
                @defer.inlineCallbacks
                async def connectionMade(self):
                    await self.factory.ready
            """,
            [r"line 6: connectionMade\(\) is already an async def under @inlineCallbacks"],
        )


@pytest.mark.parametrize("converted", [False, True])
def test_callback_runs_like_the_original(converted: bool) -> None:
    code = _convert(CALLBACK)[0] if converted else textwrap.dedent(CALLBACK)
    assert ("async def" in code) is converted
    P = _run(code)["P"]
    ready = defer.Deferred()
    proto = P(ready)
    d = proto.connectionMade()
    # Started at once (what Twisted's makeConnection relies on), a Deferred back.
    assert proto.log == ["started"] and isinstance(d, defer.Deferred) and not d.called
    ready.callback(21)
    assert proto.log == ["started", 21] and _result(d) == 42


RECEIVERS = """
from twisted.internet import defer

class Pool:
    @defer.inlineCallbacks
    def getConnection(self, peek=False):
        conn = yield defer.succeed("conn")
        return (conn, peek)

class Other:
    def getConnection(self, peek=False):
        return defer.succeed(("other", peek))

class Plain:
    def getConnection(self, peek=False):
        return ("plain", peek)

class Handler:
    def __init__(self, factory):
        self._factory = factory

    def connection(self):
        d = self._factory.getConnection(peek=True)
        return d

    def value(self):
        return self._factory.getConnection()

    def fire_and_forget(self):
        self._factory.getConnection()
"""


class TestUnknownReceivers(GenCase):
    PRESET = "twisted"

    def test_unknown_receiver_goes_through_the_helper(self) -> None:
        self.convert(
            RECEIVERS,
            """
            from twisted.internet import defer
            import inspect


            def _deferred_if_coroutine(result):
                \"\"\"Return a Deferred for a coroutine (what the @inlineCallbacks method returned), else result.

                Added by generators-to-async for calls on receivers it cannot identify.
                \"\"\"
                if inspect.iscoroutine(result):
                    return defer.ensureDeferred(result)
                return result

            class Pool:
                async def getConnection(self, peek=False):
                    conn = await defer.succeed("conn")
                    return (conn, peek)

            class Other:
                def getConnection(self, peek=False):
                    return defer.succeed(("other", peek))

            class Plain:
                def getConnection(self, peek=False):
                    return ("plain", peek)

            class Handler:
                def __init__(self, factory):
                    self._factory = factory

                def connection(self):
                    d = _deferred_if_coroutine(self._factory.getConnection(peek=True))
                    return d

                def value(self):
                    return _deferred_if_coroutine(self._factory.getConnection())

                def fire_and_forget(self):
                    _deferred_if_coroutine(self._factory.getConnection())
            """,
            [r"line 5: public API: getConnection\(\) now returns a coroutine, not a Deferred"],
        )

    def test_helper_name_taken_refuses_the_file(self) -> None:
        self.refuse(
            """
            from twisted.internet import defer

            _deferred_if_coroutine = None

            class Pool:
                @defer.inlineCallbacks
                def _get(self):
                    yield defer.succeed(1)

            def use(pool):
                return pool._get()
            """,
            [r"line 1: calls of converted methods on receivers .* need the name "
             r"'_deferred_if_coroutine', which this module binds to something else"],
        )  # fmt: skip

    def test_awaited_unknown_receiver_is_left_alone(self) -> None:
        self.convert(
            """
            from twisted.internet import defer

            class Pool:
                @defer.inlineCallbacks
                def _get(self):
                    yield defer.succeed(1)

            @defer.inlineCallbacks
            def _use(pool):
                value = yield pool._get()
                return value
            """,
            """
            from twisted.internet import defer

            class Pool:
                async def _get(self):
                    await defer.succeed(1)

            async def _use(pool):
                value = await pool._get()
                return value
            """,
        )

    def test_kept_methods_need_neither_helper_nor_refusal(self) -> None:
        code, warnings = _convert(RECEIVERS, keep_api=True)
        assert warnings == []
        assert "_deferred_if_coroutine" not in code and "import inspect" not in code
        assert "return self._factory.getConnection()" in code
        assert "return defer.ensureDeferred(getConnection(self, peek))" in code


@pytest.mark.parametrize("keep_api", [False, True])
@pytest.mark.parametrize("receiver", ["Pool", "Other", "Plain"])
def test_unknown_receivers_run_like_the_original(receiver: str, keep_api: bool) -> None:
    """Every receiver (the converted class, a Deferred-returning one, a plain one) is unchanged."""
    original = _run(textwrap.dedent(RECEIVERS))
    code, _ = _convert(RECEIVERS, keep_api=keep_api)
    converted = _run(code)
    assert "async def getConnection" in code

    def outcomes(ns: dict[str, Any]) -> list[Any]:
        handler = ns["Handler"](ns[receiver]())
        got = []
        for result in (handler.connection(), handler.value()):
            got.append(_result(result) if isinstance(result, defer.Deferred) else result)
        got.append(handler.fire_and_forget())
        return got

    assert outcomes(converted) == outcomes(original)


def test_fire_and_forget_on_the_converted_receiver_still_runs() -> None:
    code, _ = _convert(
        """
        from twisted.internet import defer

        class Pool:
            def __init__(self):
                self.done = []

            @defer.inlineCallbacks
            def close(self):
                yield defer.succeed(None)
                self.done.append("closed")

        def shutdown(pool):
            pool.close()
        """
    )
    ns = _run(code)
    pool = ns["Pool"]()
    ns["shutdown"](pool)
    assert pool.done == ["closed"]


def test_refusals_leave_the_file_byte_identical() -> None:
    source = textwrap.dedent(
        """
        from twisted.internet import defer
        from twisted.internet.protocol import Protocol

        class P(Protocol):
            @other
            @defer.inlineCallbacks
            def connectionMade(self):
                yield self.factory.ready
        """
    )
    tree, out, warnings = run_codemod(source, "twisted")
    assert out is tree and out.code == source and len(warnings) == 1


def test_a_name_kept_in_one_class_is_still_wrapped_for_another() -> None:
    """``A.get`` keeps its Deferred (--keep-api); ``B.get`` cannot (a decorator): B's calls wrap."""
    code, warnings = _convert(
        """
        import functools
        from twisted.internet import defer

        def traced(f):
            @functools.wraps(f)
            def run(*args):
                return f(*args)
            return run

        class A:
            @defer.inlineCallbacks
            def get(self):
                value = yield defer.succeed("a")
                return value

            def use(self):
                return self.get()

        class B:
            @traced
            @defer.inlineCallbacks
            def get(self):
                value = yield defer.succeed("b")
                return value

            def use(self):
                return self.get()
        """,
        keep_api=True,
    )
    assert len(warnings) == 1 and "public API: get() now returns a coroutine" in warnings[0]
    assert code.count("return defer.ensureDeferred(self.get())") == 2
    ns = _run(code)
    assert _result(ns["A"]().use()) == "a"
    assert _result(ns["B"]().use()) == "b"


def test_helper_uses_the_module_s_own_names_for_inspect_and_defer() -> None:
    code, warnings = _convert(
        """
        import inspect as ins
        from twisted.internet import defer as d

        class Pool:
            @d.inlineCallbacks
            def _close(self):
                yield d.succeed(None)
                self.closed = True

        def shutdown(pool):
            pool._close()
        """
    )
    assert warnings == []
    assert "if ins.iscoroutine(result):\n        return d.ensureDeferred(result)" in code
    assert "import inspect\n" not in code
    ns = _run(code)
    pool = ns["Pool"]()
    ns["shutdown"](pool)
    assert pool.closed
