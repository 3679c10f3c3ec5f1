"""Before/after pairs for ``legacy-to-shim --spec twisted`` and its guards."""

from __future__ import annotations

from pathlib import Path

import pytest
from libcst.codemod import CodemodContext, CodemodTest

from codemods import LegacyToShimCommand, SpecError
from codemods._rename.command import SPECS_DIR


class TestTwistedSpec(CodemodTest):
    TRANSFORM = LegacyToShimCommand

    def test_converts_where_the_shim_means_the_same(self) -> None:
        before = """
            from twisted.internet import defer, reactor, task

            async def main(a, b):
                reactor.callLater(1, print, "x")
                await task.deferLater(reactor, 0.5)
                got = await defer.gatherResults(
                    [defer.ensureDeferred(a()), defer.ensureDeferred(b())], consumeErrors=True
                )
                lock = defer.DeferredLock()
                async with lock:
                    pass
                return got
        """
        after = """
            import shims

            async def main(a, b):
                shims.call_later(1, print, "x")
                await shims.sleep(0.5)
                got = await shims.gather(
                    shims.spawn(a()), shims.spawn(b())
                )
                lock = shims.Lock()
                async with lock:
                    pass
                return got
        """
        self.assertCodemod(before, after, spec="twisted", expected_warnings=[])

    def test_aliased_imports(self) -> None:
        before = """
            from twisted.internet import task as t
            from twisted.internet.defer import gatherResults as gr, ensureDeferred as ed
            from twisted.internet import reactor as r

            async def main(a, b):
                await t.deferLater(r, 2)
                return await gr([ed(a()), ed(b())])
        """
        after = """
            import shims
            from shims import gather as gr, spawn as ed

            async def main(a, b):
                await shims.sleep(2)
                return await gr(ed(a()), ed(b()))
        """
        self.assertCodemod(before, after, spec="twisted", expected_warnings=[])

    def test_member_and_dotted_imports(self) -> None:
        before = """
            from twisted.internet.task import deferLater
            from twisted.internet.defer import DeferredLock, gatherResults, ensureDeferred
            from twisted.internet import reactor
            import twisted.internet.defer

            async def main(a):
                await deferLater(reactor, 1)
                lock = DeferredLock()
                await gatherResults([ensureDeferred(a())])
                await twisted.internet.defer.gatherResults([twisted.internet.defer.ensureDeferred(a())])
        """
        after = """
            from shims import sleep
            from shims import Lock, gather, spawn
            import shims

            async def main(a):
                await sleep(1)
                lock = Lock()
                await gather(spawn(a()))
                await shims.gather(shims.spawn(a()))
        """
        self.assertCodemod(before, after, spec="twisted", expected_warnings=[])

    def test_no_twisted_is_a_no_op(self) -> None:
        code = """
            import asyncio

            async def main():
                await asyncio.sleep(1)
        """
        self.assertCodemod(code, code, spec="twisted", expected_warnings=[])

    def test_guards_warn_and_change_nothing(self) -> None:
        code = """
            from twisted.internet import defer, reactor, task

            async def main(a, b, clock):
                h = reactor.callLater(1, print, "x")
                reactor.callLater(1, print, x=1)
                await task.deferLater(clock, 0.5)
                d = task.deferLater(reactor, 0.5)
                await task.deferLater(reactor, 0.5, print)
                both = defer.gatherResults([a, b])
                results = defer.DeferredList([a, b])
                return defer.succeed(h)
        """
        self.assertCodemod(
            code,
            code,
            spec="twisted",
            expected_warnings=[
                "line 4: twisted.internet.reactor.callLater() is converted only when its value is "
                "discarded or awaited: its IDelayedCall has active()/reset()/delay(); the shim's "
                "handle only cancel()",
                "line 5: twisted.internet.reactor.callLater() with keyword arguments has no "
                "equivalent in call_later; left unchanged",
                "line 6: twisted.internet.task.deferLater() is converted only when clock is "
                "twisted.internet.reactor: another clock (a test clock?) has a different "
                "meaning; left unchanged",
                "line 7: twisted.internet.task.deferLater() is converted only when its value is "
                "directly awaited: it returns a Deferred (callbacks, cancel()); shims.sleep "
                "returns a coroutine",
                "line 8: twisted.internet.task.deferLater() takes 2 positional argument(s), got "
                "more; left unchanged",
                "line 9: twisted.internet.defer.gatherResults() is converted only when its value "
                "is directly awaited: it returns a Deferred; shims.gather returns an awaitable "
                "that is not one",
                "line 10: twisted.internet.defer.DeferredList is not converted: its result is a "
                "list of (success, result) tuples; use shims.gather(..., return_exceptions=True) "
                "and rewrite the consumer",
                "line 11: twisted.internet.defer.succeed is not converted: a Deferred that has "
                "already fired: in async code use the value itself (return x / x)",
            ],
        )

    def test_file_wide_conflicts_refuse(self) -> None:
        code = """
            from twisted.internet import defer

            async def main(a, b):
                lock = defer.DeferredLock()
                if lock.locked:
                    return None
                try:
                    return await defer.gatherResults([a, b])
                except defer.FirstError as e:
                    raise e.subFailure.value
        """
        self.assertCodemod(
            code,
            code,
            spec="twisted",
            expected_warnings=[
                "line 4: this file reads an attribute '.locked', which "
                "twisted.internet.defer.DeferredLock()'s value has and Lock lacks or spells "
                "differently; convert by hand",
                "line 8: this file uses twisted.internet.defer.FirstError, whose meaning "
                "twisted.internet.defer.gatherResults() changes once it becomes gather; convert "
                "by hand",
                "line 9: twisted.internet.defer.FirstError is not converted: shims.gather raises "
                "the failing exception itself, unwrapped",
            ],
        )

    def test_ensure_deferred_becomes_a_task_only_inside_a_converted_gather(self) -> None:
        before = """
            from twisted.internet import defer

            async def main(self, xs):
                got = await defer.gatherResults([defer.ensureDeferred(self.f(x)) for x in xs])
                both = await defer.gatherResults([defer.ensureDeferred(self.f(1)), self.g()])
                d = defer.gatherResults([defer.ensureDeferred(self.f(1))])
                return got, both, d
        """
        after = """
            from twisted.internet import defer
            import shims

            async def main(self, xs):
                got = await shims.gather(*[shims.spawn(self.f(x)) for x in xs])
                both = await defer.gatherResults([defer.ensureDeferred(self.f(1)), self.g()])
                d = defer.gatherResults([defer.ensureDeferred(self.f(1))])
                return got, both, d
        """
        self.assertCodemod(
            before,
            after,
            spec="twisted",
            expected_warnings=[
                "line 5: twisted.internet.defer.ensureDeferred() is converted only inside a "
                "converted gather's list: elsewhere its Deferred takes callbacks (addCallback, "
                "addErrback); rewrite the caller as async by hand",
                "line 5: twisted.internet.defer.gatherResults() is converted only when every "
                "element of its list is twisted.internet.defer.ensureDeferred(...), which gather "
                "can await: another element (a Deferred) is not; left unchanged",
                "line 6: twisted.internet.defer.ensureDeferred() is converted only inside a "
                "converted gather's list: elsewhere its Deferred takes callbacks (addCallback, "
                "addErrback); rewrite the caller as async by hand",
                "line 6: twisted.internet.defer.gatherResults() is converted only when its value "
                "is directly awaited: it returns a Deferred; shims.gather returns an awaitable "
                "that is not one",
            ],
        )

    def test_gather_of_deferreds_is_refused(self) -> None:
        # txredisapi's tests: ``await defer.gatherResults([self.db.delete(x) for x in keys])``
        # gathers the client's Deferreds; shims.gather cannot run a Deferred.
        code = """
            from twisted.internet import defer

            async def main(db, keys):
                await defer.gatherResults([db.delete(k) for k in keys])
                return await defer.gatherResults([db.get("a"), db.get("b")], consumeErrors=True)
        """
        message = (
            "twisted.internet.defer.gatherResults() is converted only when every element of its "
            "list is twisted.internet.defer.ensureDeferred(...), which gather can await: another "
            "element (a Deferred) is not; left unchanged"
        )
        self.assertCodemod(
            code,
            code,
            spec="twisted",
            expected_warnings=[f"line 4: {message}", f"line 5: {message}"],
        )

    def test_inline_callbacks_and_deferred_are_kept_silently(self) -> None:
        code = """
            from twisted.internet import defer

            @defer.inlineCallbacks
            def f() -> defer.Deferred:
                yield 1
                defer.returnValue(2)
        """
        self.assertCodemod(code, code, spec="twisted", expected_warnings=[])


def test_spec_is_bundled_and_named() -> None:
    spec = LegacyToShimCommand.load("twisted")
    assert spec.path == str(SPECS_DIR / "twisted.toml")
    assert (spec.source, spec.target) == ("twisted.internet", "shims")
    assert spec.key_for("defer.gatherResults") == "defer.gatherResults"
    assert spec.key_for("protocol.Protocol") == "protocol"
    assert spec.key_for("interfaces.IReactorTime") is None


def test_unknown_bundled_name_says_which_exist() -> None:
    with pytest.raises(
        SpecError, match=r"'twisty' is neither a spec file nor a bundled spec.*twisted"
    ):
        LegacyToShimCommand(CodemodContext(), spec="twisty")


@pytest.mark.parametrize(
    ("table", "message"),
    [
        (
            'when = "later"\nwhy = "x"',
            r"\[calls.f.when\] must be one of \['awaited', 'unused', 'gathered'\]",
        ),
        ('when = "awaited"', r"\[calls.f\] 'when' needs 'why'"),
        ('why = "x"', r"\[calls.f.why\] needs 'when'"),
        ('conflicts = ["a b"]', r"\[calls.f.conflicts\] 'a b' is not '.attribute' or a dotted"),
        ('source_args = { c = "r" }', r"\[calls.f.source_args\] 'c' is not in params"),
        ('elements = ["g"]', r"\[calls.f.elements\] needs 'args' with a '\*list'"),
    ],
)
def test_guard_keys_are_validated(tmp_path: Path, table: str, message: str) -> None:
    path = tmp_path / "s.toml"
    path.write_text(f'[spec]\nsource = "a"\ntarget = "b"\n[calls.f]\ntarget = "g"\n{table}\n')
    with pytest.raises(SpecError, match=message):
        LegacyToShimCommand(CodemodContext(), spec=str(path))
