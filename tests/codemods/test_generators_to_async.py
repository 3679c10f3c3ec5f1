"""generators-to-async: shared test base, options, file-level guarantees.

``GenCase.convert`` is the one assertion every rule test goes through: the
before/after pair (``CodemodTest.assertCodemod``), the warnings (regexes,
in order), that the result compiles, and that a second run changes nothing.
"""

from __future__ import annotations

import argparse
import re
from collections.abc import Sequence

import libcst as cst
import pytest
from libcst.codemod import CodemodContext, CodemodTest

from codemods._generators.presets import PRESETS
from codemods.generators_to_async import GeneratorsToAsyncCommand


def run_codemod(source: str | bytes, preset: str) -> tuple[cst.Module, cst.Module, list[str]]:
    """Parse ``source``, convert it, and return (input tree, output tree, warnings)."""
    context = CodemodContext(filename="sample.py", full_module_name=None)
    tree = cst.parse_module(source)
    out = GeneratorsToAsyncCommand(context, preset=preset).transform_module(tree)
    return tree, out, list(context.warnings)


class GenCase(CodemodTest):
    """A CodemodTest whose every case also checks warnings, compile() and idempotency."""

    TRANSFORM = GeneratorsToAsyncCommand
    PRESET = "legacy"

    def convert(
        self,
        before: str,
        after: str,
        warnings: Sequence[str] = (),
        *,
        preset: str | None = None,
    ) -> None:
        preset = preset or self.PRESET
        context = CodemodContext(filename="sample.py", full_module_name=None)
        self.assertCodemod(before, after, context_override=context, preset=preset)
        self.assertEqual(
            len(context.warnings), len(warnings), f"warnings were {context.warnings!r}"
        )
        for pattern, warning in zip(warnings, context.warnings, strict=True):
            self.assertRegex(warning, pattern)
        expected = self.make_fixture_data(after)
        compile(expected, "<after>", "exec", dont_inherit=True)
        _, again, _ = run_codemod(expected, preset)
        self.assertEqual(again.code, expected, "a second run changed the result")

    def refuse(self, before: str, warnings: Sequence[str], *, preset: str | None = None) -> None:
        """Assert ``before`` is left byte-identical (same tree object) and reported."""
        self.convert(before, before, warnings, preset=preset)
        source = self.make_fixture_data(before)
        tree, out, _ = run_codemod(source, preset or self.PRESET)
        self.assertIs(out, tree)

    def noop(self, before: str, *, preset: str | None = None) -> None:
        """Assert ``before`` is left byte-identical without a warning."""
        self.refuse(before, (), preset=preset)


class TestOptions:
    def test_add_args_declares_preset_with_choices(self) -> None:
        parser = argparse.ArgumentParser()
        GeneratorsToAsyncCommand.add_args(parser)
        assert parser.parse_args(["--preset", "tornado"]).preset == "tornado"
        assert parser.parse_args([]).preset == "legacy"
        with pytest.raises(SystemExit):
            parser.parse_args(["--preset", "trio"])

    def test_unknown_preset_is_a_clear_error(self) -> None:
        with pytest.raises(ValueError, match=r"unknown generators-to-async preset 'trio'.*asyncio"):
            GeneratorsToAsyncCommand(CodemodContext(), preset="trio")

    @pytest.mark.parametrize("preset", sorted(PRESETS))
    def test_prefilter_tokens_are_in_every_convertible_file(self, preset: str) -> None:
        tokens = GeneratorsToAsyncCommand.prefilter(preset=preset)
        assert tokens and all(isinstance(t, bytes) for t in tokens)
        decorator = {
            "legacy": "rt.coroutine",
            "tornado": "g.coroutine",
            "asyncio": "aio.coroutine",
            "twisted": "defer.inlineCallbacks",
        }
        assert any(t in decorator[preset].encode() for t in tokens)
        assert not any(t in b"import os\nprint(os.getcwd())\n" for t in tokens)

    def test_prefilter_of_asyncio_also_catches_loop_arguments(self) -> None:
        tokens = GeneratorsToAsyncCommand.prefilter(preset="asyncio")
        assert any(t in b"await asyncio.sleep(1, loop=loop)" for t in tokens)

    def test_prefilter_defaults_to_legacy(self) -> None:
        assert GeneratorsToAsyncCommand.prefilter() == PRESETS["legacy"].prefilter

    def test_needs_no_metadata_provider(self) -> None:
        assert GeneratorsToAsyncCommand.get_inherited_dependencies() == frozenset()


LEGACY_SRC = (
    "from legacy import runtime\n"
    "\n"
    "@runtime.coroutine\n"
    "def f(x):\n"
    "    y = yield runtime.sleep(0, result=x)\n"
    "    return y\n"
)
LEGACY_OUT = (
    "from legacy import runtime\n"
    "\n"
    "async def f(x):\n"
    "    y = await runtime.sleep(0, result=x)\n"
    "    return y\n"
)


class TestFileGuarantees:
    def test_crlf_line_endings_are_kept(self) -> None:
        source = LEGACY_SRC.replace("\n", "\r\n")
        _, out, warnings = run_codemod(source, "legacy")
        assert warnings == []
        assert out.code == LEGACY_OUT.replace("\n", "\r\n")

    def test_crlf_kept_for_added_import_lines(self) -> None:
        source = (
            "from legacy.runtime import coroutine\r\n\r\n@coroutine\r\ndef f():\r\n    yield\r\n"
        )
        _, out, _ = run_codemod(source, "legacy")
        assert "\n" not in out.code.replace("\r\n", "")
        assert "await runtime.sleep(0)" in out.code

    def test_encoding_cookie_and_bytes_are_kept(self) -> None:
        source = ("# -*- coding: latin-1 -*-\n" + LEGACY_SRC + "NAME = 'caf\xe9'\n").encode(
            "latin-1"
        )
        _, out, _ = run_codemod(source, "legacy")
        assert out.encoding in ("latin-1", "iso-8859-1")
        assert out.bytes == (
            "# -*- coding: latin-1 -*-\n" + LEGACY_OUT + "NAME = 'caf\xe9'\n"
        ).encode("latin-1")

    @pytest.mark.parametrize("preset", sorted(PRESETS))
    def test_untouched_file_is_the_same_tree(self, preset: str) -> None:
        source = "import os\n\ndef gen():\n    yield os.sep  # a plain generator\n"
        tree, out, warnings = run_codemod(source, preset)
        assert out is tree and out.code == source and warnings == []

    def test_result_that_would_not_compile_is_left_untouched_and_reported(self) -> None:
        # The file was already broken (await outside async def); converting
        # the coroutine cannot make it compile, so nothing is written.
        source = LEGACY_SRC + "\ndef broken():\n    await f(1)\n"
        tree, out, warnings = run_codemod(source, "legacy")
        assert out is tree
        assert len(warnings) == 1
        assert re.fullmatch(
            r"line \d+: the converted file would not compile .*; left unchanged", warnings[0]
        )

    def test_warning_lines_are_the_offending_lines(self) -> None:
        source = (
            "from legacy import runtime\n"  # 1
            "\n"  # 2
            "@runtime.coroutine\n"  # 3
            "def f():\n"  # 4
            "    x = yield runtime.sleep(0)\n"  # 5
            "    y = yield {'a': x}\n"  # 6
            "    return y\n"  # 7
        )
        _, _, warnings = run_codemod(source, "legacy")
        assert len(warnings) == 1 and warnings[0].startswith("line 6: ")


class TestImports(GenCase):
    PRESET = "tornado"

    def test_needed_import_goes_after_the_docstring_when_there_is_no_import_block(self) -> None:
        self.convert(
            '''
            """Service."""

            @__import__("tornado.gen").gen.coroutine
            def untouched():
                yield 1

            def helper():
                import tornado.gen as gen

                @gen.coroutine
                def inner():
                    yield gen.sleep(1)
                return inner
            ''',
            '''
            """Service."""
            import asyncio

            @__import__("tornado.gen").gen.coroutine
            def untouched():
                yield 1

            def helper():
                import tornado.gen as gen

                async def inner():
                    await asyncio.sleep(1)
                return inner
            ''',
        )

    def test_late_top_level_import_block_is_handled(self) -> None:
        self.convert(
            """
            import logging
            log = logging.getLogger(__name__)
            from tornado import gen

            @gen.coroutine
            def tick():
                yield gen.moment
            """,
            """
            import logging
            import asyncio

            log = logging.getLogger(__name__)

            async def tick():
                await asyncio.sleep(0)
            """,
        )

    def test_import_named_in_a_string_is_kept(self) -> None:
        self.convert(
            """
            from tornado.gen import coroutine

            __all__ = ["coroutine", "tick"]

            @coroutine
            def tick(clock):
                yield clock.tick()
            """,
            """
            from tornado.gen import coroutine

            __all__ = ["coroutine", "tick"]

            async def tick(clock):
                await clock.tick()
            """,
        )

    def test_string_containing_the_name_inside_a_word_does_not_keep_the_import(self) -> None:
        # "report" contains "rt": only a whole-word mention keeps ``rt`` imported.
        self.convert(
            """
            import legacy.runtime as rt

            @rt.coroutine
            def cached(store):
                value = yield store.get("report")
                return value
            """,
            """

            async def cached(store):
                value = await store.get("report")
                return value
            """,
            preset="legacy",
        )

    def test_docstring_mentioning_the_name_does_not_keep_the_import(self) -> None:
        # Docstrings are prose; only other strings (``__all__``, annotations) count.
        self.convert(
            """
            \"\"\"Talks to the runtime: see runtime.Timeout.\"\"\"
            from legacy import runtime

            @runtime.coroutine
            def fetch(conn):
                \"\"\"Raises ``runtime.Timeout`` when the runtime gives up.\"\"\"
                data = yield conn.read_some()
                return data
            """,
            """
            \"\"\"Talks to the runtime: see runtime.Timeout.\"\"\"

            async def fetch(conn):
                \"\"\"Raises ``runtime.Timeout`` when the runtime gives up.\"\"\"
                data = await conn.read_some()
                return data
            """,
            preset="legacy",
        )

    def test_import_still_needed_by_the_conversion_is_kept(self) -> None:
        self.convert(
            """
            import asyncio

            @asyncio.coroutine
            def spin():
                yield
            """,
            """
            import asyncio

            async def spin():
                await asyncio.sleep(0)
            """,
            preset="asyncio",
        )


class TestScopes(GenCase):
    PRESET = "legacy"

    def test_decorated_async_def_only_loses_the_decorator(self) -> None:
        self.convert(
            """
            import asyncio

            @asyncio.coroutine
            async def already():
                await asyncio.sleep(0)
            """,
            """
            import asyncio

            async def already():
                await asyncio.sleep(0)
            """,
            preset="asyncio",
        )

    def test_yield_in_the_outer_iterable_of_a_comprehension_belongs_to_the_function(self) -> None:
        self.convert(
            """
            from legacy import runtime

            @runtime.coroutine
            def names(db):
                return [row.name for row in (yield db.fetch_all())]
            """,
            """
            async def names(db):
                return [row.name for row in (await db.fetch_all())]
            """,
        )

    def test_coroutine_nested_in_a_plain_function_converts_alone(self) -> None:
        self.convert(
            """
            from legacy import runtime

            def make(delay):
                values = (yield_ for yield_ in range(3))

                @runtime.coroutine
                def waiter():
                    yield runtime.sleep(delay)
                    return list(values)

                return waiter
            """,
            """
            from legacy import runtime

            def make(delay):
                values = (yield_ for yield_ in range(3))

                async def waiter():
                    await runtime.sleep(delay)
                    return list(values)

                return waiter
            """,
        )
