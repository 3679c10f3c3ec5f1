"""Before/after pairs for every legacy-to-shim rule: convert, no-op, aliased, must-refuse."""

from __future__ import annotations

from libcst.codemod import CodemodTest

from codemods import LegacyToShimCommand


class TestImportForms(CodemodTest):
    TRANSFORM = LegacyToShimCommand

    def test_from_package_import_module(self) -> None:
        before = """
            from legacy import runtime

            async def main():
                await runtime.sleep(1)
        """
        after = """
            import shims

            async def main():
                await shims.sleep(1)
        """
        self.assertCodemod(before, after, expected_warnings=[])

    def test_import_dotted(self) -> None:
        before = """
            import legacy.runtime

            async def main():
                await legacy.runtime.sleep(1)
        """
        after = """
            import shims

            async def main():
                await shims.sleep(1)
        """
        self.assertCodemod(before, after, expected_warnings=[])

    def test_import_dotted_as(self) -> None:
        before = """
            import legacy.runtime as rt

            async def main():
                await rt.sleep(1)
        """
        after = """
            import shims

            async def main():
                await shims.sleep(1)
        """
        self.assertCodemod(before, after, expected_warnings=[])

    def test_from_package_import_module_as(self) -> None:
        before = """
            from legacy import runtime as rt  # the scheduler

            t = rt.spawn(job())
        """
        after = """
            import shims  # the scheduler

            t = shims.spawn(job())
        """
        self.assertCodemod(before, after, expected_warnings=[])

    def test_from_module_import_names_keeps_aliases_and_layout(self) -> None:
        before = """
            from legacy.runtime import (
                sleep as nap,  # short
                spawn,
            )

            async def main():
                spawn(nap(1))
        """
        after = """
            from shims import (
                sleep as nap,  # short
                spawn,
            )

            async def main():
                spawn(nap(1))
        """
        self.assertCodemod(before, after, expected_warnings=[])

    def test_from_import_renamed_name_renames_uses(self) -> None:
        before = """
            from legacy.runtime import Channel, wait_all

            async def main(a, b):
                q = Channel(10)
                return await wait_all([a, b])
        """
        after = """
            from shims import Queue, gather

            async def main(a, b):
                q = Queue(10)
                return await gather(a, b)
        """
        self.assertCodemod(before, after, expected_warnings=[])

    def test_renamed_name_taken_keeps_local_name(self) -> None:
        before = """
            from queue import Queue
            from legacy.runtime import Channel

            q = Channel(10)
            p = Queue()
        """
        after = """
            from queue import Queue
            from shims import Queue as Channel

            q = Channel(10)
            p = Queue()
        """
        self.assertCodemod(before, after, expected_warnings=[])

    def test_dunder_all_keeps_public_name(self) -> None:
        before = """
            from legacy.runtime import Channel
            __all__ = ["Channel"]
            default = Channel(1)
        """
        after = """
            from shims import Queue as Channel
            __all__ = ["Channel"]
            default = Channel(1)
        """
        self.assertCodemod(before, after, expected_warnings=[])

    def test_import_kept_while_coroutine_still_used(self) -> None:
        before = """
            from legacy import runtime

            @runtime.coroutine
            def job():
                yield runtime.sleep(1)
        """
        after = """
            from legacy import runtime
            import shims

            @runtime.coroutine
            def job():
                yield shims.sleep(1)
        """
        self.assertCodemod(before, after, expected_warnings=[])

    def test_partial_from_import_keeps_remaining_name(self) -> None:
        before = """
            from legacy.runtime import coroutine, sleep

            @coroutine
            def job():
                yield sleep(1)
        """
        after = """
            from legacy.runtime import coroutine
            from shims import sleep

            @coroutine
            def job():
                yield sleep(1)
        """
        self.assertCodemod(before, after, expected_warnings=[])

    def test_existing_shims_import_is_reused(self) -> None:
        before = """
            import shims as sh
            from legacy import runtime

            sh.run(runtime.sleep(1))
        """
        after = """
            import shims as sh

            sh.run(sh.sleep(1))
        """
        self.assertCodemod(before, after, expected_warnings=[])

    def test_function_level_import(self) -> None:
        before = """
            def main():
                from legacy import runtime
                return runtime.spawn(job())
        """
        after = """
            def main():
                import shims
                return shims.spawn(job())
        """
        self.assertCodemod(before, after, expected_warnings=[])

    def test_import_as_only_statement_of_block_becomes_pass(self) -> None:
        before = """
            import shims
            try:
                from legacy import runtime
            finally:
                pass
            shims.run(runtime.sleep)
        """
        after = """
            import shims
            try:
                pass
            finally:
                pass
            shims.run(shims.sleep)
        """
        self.assertCodemod(before, after, expected_warnings=[])

    def test_unrelated_names_in_same_import_stay(self) -> None:
        before = """
            from legacy import runtime, other

            runtime.spawn(other.job())
        """
        after = """
            from legacy import other
            import shims

            shims.spawn(other.job())
        """
        self.assertCodemod(before, after, expected_warnings=[])

    def test_unused_legacy_import_is_left_alone(self) -> None:
        code = """
            from legacy import runtime  # noqa: F401
            import os
        """
        self.assertCodemod(code, code, expected_warnings=[])

    def test_star_import_refused(self) -> None:
        code = """
            from legacy.runtime import *

            spawn(sleep(1))
        """
        self.assertCodemod(
            code,
            code,
            expected_warnings=[
                "line 1: 'from ... import *' of legacy.runtime hides which names come from "
                "it; import them by name and run again"
            ],
        )


class TestRenames(CodemodTest):
    TRANSFORM = LegacyToShimCommand

    def test_every_plain_rename(self) -> None:
        before = """
            from legacy import runtime

            async def main(h):
                runtime.call_later(1.0, print, "x")
                a, e = runtime.Lock(), runtime.Event()
                t0 = runtime.monotonic()
                conn: runtime.Connection = await runtime.connect("h", 1, timeout=2.0)
                try:
                    await conn.read_exactly(4)
                    await conn.start_tls(ctx, server_hostname="db")
                    await runtime.connect("h", 2, timeout=2.0, ssl=ctx, server_hostname="db")
                except runtime.PeerClosedError:
                    pass
                except (runtime.ConnectError, runtime.ConnectionClosedError, runtime.TLSError):
                    pass

            runtime.run(main)
        """
        after = """
            import shims

            async def main(h):
                shims.call_later(1.0, print, "x")
                a, e = shims.Lock(), shims.Event()
                t0 = shims.monotonic()
                conn: shims.Connection = await shims.connect("h", 1, timeout=2.0)
                try:
                    await conn.read_exactly(4)
                    await conn.start_tls(ctx, server_hostname="db")
                    await shims.connect("h", 2, timeout=2.0, ssl=ctx, server_hostname="db")
                except shims.PeerClosedError:
                    pass
                except (shims.ConnectError, shims.ConnectionClosedError, shims.TLSError):
                    pass

            shims.run(main)
        """
        self.assertCodemod(before, after, expected_warnings=[])

    def test_timeout_becomes_builtin_in_except_and_tuples(self) -> None:
        before = """
            from legacy import runtime
            from legacy.runtime import Timeout as T

            try:
                pass
            except runtime.Timeout:
                pass
            except (T, OSError) as exc:
                raise runtime.Timeout("late") from exc
        """
        after = """

            try:
                pass
            except TimeoutError:
                pass
            except (TimeoutError, OSError) as exc:
                raise TimeoutError("late") from exc
        """
        self.assertCodemod(before, after, expected_warnings=[])

    def test_timeout_refused_when_builtin_name_is_rebound(self) -> None:
        code = """
            from legacy import runtime
            from concurrent.futures import TimeoutError

            try:
                pass
            except runtime.Timeout:
                pass
        """
        self.assertCodemod(
            code,
            code,
            expected_warnings=[
                "line 6: 'TimeoutError' is rebound in this file, so legacy.runtime.Timeout "
                "cannot become the builtin; left unchanged"
            ],
        )

    def test_noop_on_unrelated_code(self) -> None:
        code = """
            import asyncio
            from legacy_tools import runtime

            async def main():
                await runtime.sleep(1)
                await asyncio.sleep(1)
        """
        self.assertCodemod(code, code, expected_warnings=[])

    def test_connection_methods_untouched(self) -> None:
        code = """
            async def handle(conn):
                data = await conn.read_until(b"\\n")
                await conn.write(data)
                conn.close()
        """
        self.assertCodemod(code, code, expected_warnings=[])

    def test_attribute_of_renamed_class(self) -> None:
        before = """
            import legacy.runtime as rt
            name = rt.Channel.__name__
        """
        after = """
            import shims
            name = shims.Queue.__name__
        """
        self.assertCodemod(before, after, expected_warnings=[])


class TestReshapes(CodemodTest):
    TRANSFORM = LegacyToShimCommand

    def test_wait_all_literal_and_non_literal(self) -> None:
        before = """
            import legacy.runtime as rt

            async def main(a, b, xs):
                r1 = await rt.wait_all([a, b])
                r2 = await rt.wait_all(xs)
                r3 = await rt.wait_all((a, *xs))
                r4 = await rt.wait_all(aws=[a])
        """
        after = """
            import shims

            async def main(a, b, xs):
                r1 = await shims.gather(a, b)
                r2 = await shims.gather(*xs)
                r3 = await shims.gather(a, *xs)
                r4 = await shims.gather(a)
        """
        self.assertCodemod(before, after, expected_warnings=[])

    def test_wait_all_multiline_keeps_comments(self) -> None:
        before = """
            from legacy import runtime

            async def main(a, b):
                return await runtime.wait_all([
                    a,  # first
                    b,
                ])
        """
        after = """
            import shims

            async def main(a, b):
                return await shims.gather(
                    a,  # first
                    b,
                )
        """
        self.assertCodemod(before, after, expected_warnings=[])

    def test_with_timeout_swaps_arguments(self) -> None:
        before = """
            from legacy import runtime

            async def main(t):
                a = await runtime.with_timeout(2.0, fetch())
                b = await runtime.with_timeout(aw=t, seconds=self.limit)
                c = await runtime.with_timeout(
                    5,  # seconds
                    t,
                )
        """
        after = """
            import shims

            async def main(t):
                a = await shims.wait_for(fetch(), 2.0)
                b = await shims.wait_for(t, self.limit)
                c = await shims.wait_for(
                    t,  # seconds
                    5,
                )
        """
        self.assertCodemod(before, after, expected_warnings=[])

    def test_listen_reorders_with_keywords(self) -> None:
        before = """
            from legacy.runtime import listen

            async def main(h):
                s1 = await listen("127.0.0.1", 0, h)
                s2 = await listen("127.0.0.1", port=0, handler=h)
        """
        after = """
            from shims import serve

            async def main(h):
                s1 = await serve(h, "127.0.0.1", 0)
                s2 = await serve(h, "127.0.0.1", 0)
        """
        self.assertCodemod(before, after, expected_warnings=[])

    def test_aliased_reshape_keeps_alias(self) -> None:
        before = """
            from legacy.runtime import with_timeout as deadline

            async def main(t):
                return await deadline(1, t)
        """
        after = """
            from shims import wait_for as deadline

            async def main(t):
                return await deadline(t, 1)
        """
        self.assertCodemod(before, after, expected_warnings=[])

    def test_channel_capacity_keyword(self) -> None:
        before = """
            from legacy import runtime
            q = runtime.Channel(capacity=4)
            isinstance(q, runtime.Channel)
        """
        after = """
            import shims
            q = shims.Queue(maxsize=4)
            isinstance(q, shims.Queue)
        """
        self.assertCodemod(before, after, expected_warnings=[])

    def test_reorder_refused_when_evaluation_order_would_change(self) -> None:
        code = """
            from legacy import runtime

            async def main():
                return await runtime.with_timeout(limit(), fetch())
        """
        self.assertCodemod(
            code,
            code,
            expected_warnings=[
                "line 4: legacy.runtime.with_timeout(): the new argument order would evaluate "
                "the arguments in a different order; left unchanged"
            ],
        )

    def test_reshaped_function_used_as_value_refused(self) -> None:
        before = """
            from legacy.runtime import wait_all

            combine = wait_all

            async def main(a):
                return await wait_all([a])
        """
        after = """
            from legacy.runtime import wait_all
            from shims import gather

            combine = wait_all

            async def main(a):
                return await gather(a)
        """
        self.assertCodemod(
            before,
            after,
            expected_warnings=[
                "line 3: legacy.runtime.wait_all is used without being called; shims.gather "
                "takes different arguments, so rewrite this use by hand"
            ],
        )

    def test_starred_call_refused(self) -> None:
        code = """
            from legacy import runtime

            async def main(args):
                return await runtime.listen(*args)
        """
        self.assertCodemod(
            code,
            code,
            expected_warnings=[
                "line 4: legacy.runtime.listen(*...) hides which argument is which; left unchanged"
            ],
        )


class TestRefusals(CodemodTest):
    TRANSFORM = LegacyToShimCommand

    def test_runtime_passed_as_value(self) -> None:
        before = """
            from legacy import runtime

            def start(rt):
                return rt.spawn(job())

            start(runtime)
            runtime.sleep(0)
        """
        after = """
            from legacy import runtime
            import shims

            def start(rt):
                return rt.spawn(job())

            start(runtime)
            shims.sleep(0)
        """
        self.assertCodemod(
            before,
            after,
            expected_warnings=[
                "line 6: legacy.runtime is used as a value (passed, stored or returned); its "
                "uses cannot be followed, rewrite by hand"
            ],
        )

    def test_getattr_on_runtime(self) -> None:
        code = """
            from legacy import runtime
            fn = getattr(runtime, "sleep")
        """
        self.assertCodemod(
            code,
            code,
            expected_warnings=[
                "line 2: dynamic attribute access on legacy.runtime cannot be rewritten; "
                "use the names directly"
            ],
        )

    def test_locally_shadowed_name(self) -> None:
        before = """
            from legacy import runtime

            async def fake(runtime):
                await runtime.sleep(1)

            async def real():
                await runtime.sleep(1)
        """
        after = """
            import shims

            async def fake(runtime):
                await runtime.sleep(1)

            async def real():
                await shims.sleep(1)
        """
        self.assertCodemod(
            before,
            after,
            expected_warnings=[
                "line 4: 'runtime' here is a local name that shadows the import of "
                "legacy.runtime; left unchanged"
            ],
        )

    def test_shadowing_assignment_later_in_function(self) -> None:
        code = """
            from legacy.runtime import Channel

            def f():
                q = Channel(1)
                Channel = None
                return q
        """
        self.assertCodemod(
            code,
            code,
            expected_warnings=[
                "line 4: 'Channel' here is a local name that shadows the import of "
                "legacy.runtime.Channel; left unchanged"
            ],
        )

    def test_rebound_module_name_refused(self) -> None:
        code = """
            try:
                from legacy import runtime
            except ImportError:
                runtime = None

            runtime.spawn(job())
        """
        self.assertCodemod(
            code,
            code,
            expected_warnings=[
                "line 6: 'runtime' is bound both by an import of legacy.runtime and by "
                "something else in the same scope; left unchanged"
            ],
        )

    def test_unknown_and_refused_attributes(self) -> None:
        code = """
            from legacy import runtime
            runtime.frobnicate()
            runtime.get_scheduler().time()
        """
        self.assertCodemod(
            code,
            code,
            expected_warnings=[
                "line 2: legacy.runtime.frobnicate is not in the spec "
                f"{LegacyToShimCommand.load().path}; left unchanged",
                "line 3: legacy.runtime.get_scheduler is not converted: the shim has no "
                "scheduler object; use shims.call_later / shims.monotonic",
            ],
        )

    def test_monkeypatch_refused(self) -> None:
        code = """
            from legacy import runtime
            runtime.sleep = fake_sleep
        """
        self.assertCodemod(
            code,
            code,
            expected_warnings=[
                "line 2: assignment to legacy.runtime.sleep (monkeypatching?) is left unchanged"
            ],
        )

    def test_shims_name_taken_refused(self) -> None:
        code = """
            from legacy import runtime
            shims = []
            runtime.spawn(job())
        """
        self.assertCodemod(
            code,
            code,
            expected_warnings=[
                "line 3: the name 'shims' is used for something else in this file, so "
                "legacy.runtime.spawn cannot become shims.spawn; left unchanged"
            ],
        )

    def test_class_scope_does_not_shadow_methods(self) -> None:
        before = """
            from legacy import runtime

            class Worker:
                runtime = "not the module"

                async def run(self):
                    await runtime.sleep(1)
        """
        after = """
            import shims

            class Worker:
                runtime = "not the module"

                async def run(self):
                    await shims.sleep(1)
        """
        self.assertCodemod(before, after, expected_warnings=[])


class TestSignatureDifferences(CodemodTest):
    TRANSFORM = LegacyToShimCommand

    def test_dropped_and_renamed_keywords(self) -> None:
        before = """
            from legacy import runtime

            async def main(h):
                t = runtime.spawn(job(), name="worker")
                runtime.call_later(delay=1.0, fn=print)
                srv = await runtime.listen("::1", 0, h, backlog=16)
        """
        after = """
            import shims

            async def main(h):
                t = shims.spawn(job())
                shims.call_later(seconds=1.0, fn=print)
                srv = await shims.serve(h, "::1", 0)
        """
        self.assertCodemod(before, after, expected_warnings=[])

    def test_sleep_result_refused(self) -> None:
        code = """
            from legacy import runtime

            async def main():
                a = await runtime.sleep(0.1, result=42)
                b = await runtime.sleep(0.1, 42)
        """
        self.assertCodemod(
            code,
            code,
            expected_warnings=[
                "line 4: legacy.runtime.sleep(result=...) has no equivalent in sleep; "
                "left unchanged",
                "line 5: legacy.runtime.sleep() with more than 1 positional argument(s) has no "
                "equivalent in sleep; left unchanged",
            ],
        )


class TestEveryRuleNoOpAndAliased(CodemodTest):
    """Each rule of the bundled spec: untouched on look-alikes, converted through an alias."""

    TRANSFORM = LegacyToShimCommand

    def test_look_alikes_of_every_rule_are_untouched(self) -> None:
        for name in LegacyToShimCommand.load().rules:
            with self.subTest(name=name):
                code = f"""
                    import legacy_tools as runtime
                    from other import {name}

                    def f(obj):
                        {name}(1)
                        obj.{name}([1, 2])
                        runtime.{name}(3)
                """
                self.assertCodemod(code, code, expected_warnings=[])

    def test_same_name_shadowing_needs_no_warning(self) -> None:
        before = """
            from legacy.runtime import sleep

            def f():
                sleep = 5
                return sleep

            async def g():
                await sleep(1)
        """
        after = """
            from shims import sleep

            def f():
                sleep = 5
                return sleep

            async def g():
                await sleep(1)
        """
        self.assertCodemod(before, after, expected_warnings=[])

    def test_aliased_member_imports(self) -> None:
        before = """
            from legacy.runtime import (
                Channel as Chan,
                Event as Ev,
                listen as bind,
                wait_all as all_of,
                Timeout as Late,
            )

            async def main(h, a, b):
                q, e = Chan(1), Ev()
                srv = await bind("::1", 0, h)
                try:
                    return await all_of([a, b])
                except Late:
                    return None
        """
        after = """
            from shims import (
                Queue as Chan,
                Event as Ev,
                serve as bind,
                gather as all_of,
            )

            async def main(h, a, b):
                q, e = Chan(1), Ev()
                srv = await bind(h, "::1", 0)
                try:
                    return await all_of(a, b)
                except TimeoutError:
                    return None
        """
        self.assertCodemod(before, after, expected_warnings=[])

    def test_channel_with_hidden_keywords_refused(self) -> None:
        code = """
            from legacy import runtime
            q = runtime.Channel(**options)
        """
        self.assertCodemod(
            code,
            code,
            expected_warnings=[
                "line 2: legacy.runtime.Channel(**...) hides which keywords are passed; "
                "left unchanged"
            ],
        )


class TestStringAnnotations(CodemodTest):
    TRANSFORM = LegacyToShimCommand

    def test_string_annotation_is_reported(self) -> None:
        before = """
            from legacy import runtime

            def make(q: "runtime.Channel") -> runtime.Channel:
                return q
        """
        after = """
            from legacy import runtime
            import shims

            def make(q: "runtime.Channel") -> shims.Queue:
                return q
        """
        self.assertCodemod(
            before,
            after,
            expected_warnings=[
                'line 3: string annotation "runtime.Channel" may name legacy.runtime; '
                "update it by hand"
            ],
        )

    def test_unrelated_string_annotation_is_quiet(self) -> None:
        code = """
            def make(q: "Queue[int]") -> "list[str]":
                return q
        """
        self.assertCodemod(code, code, expected_warnings=[])

    def test_spread_of_a_conditional_is_parenthesized(self) -> None:
        before = """
            from legacy import runtime

            async def main(xs, ys):
                await runtime.wait_all(x for x in xs)
                return await runtime.wait_all(xs if xs else ys)
        """
        after = """
            import shims

            async def main(xs, ys):
                await shims.gather(*(x for x in xs))
                return await shims.gather(*(xs if xs else ys))
        """
        self.assertCodemod(before, after, expected_warnings=[])
