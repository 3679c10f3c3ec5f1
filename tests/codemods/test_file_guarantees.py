"""Idempotency, byte-identical no-ops, CRLF, encoding cookies, and refusing non-compiling output."""

from __future__ import annotations
import __future__

import textwrap
import types

import libcst as cst
import pytest
from libcst.codemod import Codemod, CodemodContext

import codemods
from codemods import LegacyToShimCommand, ShimToAsyncioCommand

SAMPLE = textwrap.dedent(
    '''\
    """A service."""
    import logging
    from legacy import runtime
    from legacy.runtime import Channel, wait_all as all_of

    log = logging.getLogger(__name__)


    @runtime.coroutine
    def old_style():
        yield runtime.sleep(0)


    async def main(a, b):
        q = Channel(2)
        await runtime.with_timeout(1.0, q.put(1))
        try:
            await all_of([a, b])
        except runtime.Timeout:
            log.warning("slow")
        runtime.get_scheduler()
        return runtime.spawn(a)
    '''
)


def _run(cls: type[Codemod], code: str | bytes) -> tuple[cst.Module, cst.Module, list[str]]:
    ctx = CodemodContext(filename="sample.py")
    tree = cst.parse_module(code)
    command = cls(ctx)  # type: ignore[call-arg]
    return tree, command.transform_module(tree), ctx.warnings


@pytest.mark.parametrize("cls", [LegacyToShimCommand, ShimToAsyncioCommand])
def test_second_run_changes_nothing(cls: type[Codemod]) -> None:
    _, first, _ = _run(LegacyToShimCommand, SAMPLE)
    if cls is ShimToAsyncioCommand:
        _, first, _ = _run(cls, first.code)
    assert first.code != SAMPLE
    tree, second, _ = _run(cls, first.code)
    assert second is tree
    assert second.code == first.code


def test_untouched_file_is_the_same_object_and_bytes() -> None:
    code = "import os  \r\n\n# comment\nx = ( 1 ,)\n"
    tree, out, warnings = _run(LegacyToShimCommand, code)
    assert out is tree
    assert out.code == code
    assert warnings == []


def test_crlf_line_endings_are_kept_including_added_imports() -> None:
    code = SAMPLE.replace("\n", "\r\n")
    _, out, _ = _run(LegacyToShimCommand, code)
    text = out.code
    assert "shims.spawn(a)" in text
    assert "import shims\r\n" in text
    assert text.count("\r\n") == text.count("\n")


def test_encoding_cookie_and_encoding_are_kept() -> None:
    code = "# -*- coding: latin-1 -*-\nfrom legacy import runtime\nNAME = 'caf\xe9'\nruntime.spawn(job())\n"
    raw = code.encode("latin-1")
    _, out, _ = _run(LegacyToShimCommand, raw)
    assert out.encoding in ("latin-1", "iso-8859-1")
    assert out.bytes.startswith(b"# -*- coding: latin-1 -*-\n")
    assert b"NAME = 'caf\xe9'" in out.bytes
    assert b"shims.spawn(job())" in out.bytes


def test_output_that_would_not_compile_is_refused() -> None:
    # libcst parses a top-level await; Python refuses to compile it, so the
    # rewritten file is not produced and the user is told why.
    code = "from legacy import runtime\nawait runtime.sleep(1)\n"
    tree, out, warnings = _run(LegacyToShimCommand, code)
    assert out is tree
    assert len(warnings) == 1
    assert warnings[0].startswith("line 1: the rewritten file would not compile (SyntaxError")
    assert "file left unchanged" in warnings[0]


def test_warnings_are_in_the_context_with_line_numbers() -> None:
    _, out, warnings = _run(LegacyToShimCommand, SAMPLE)
    assert warnings == [
        "line 21: legacy.runtime.get_scheduler is not converted: the shim has no scheduler "
        "object; use shims.call_later / shims.monotonic"
    ]
    assert "runtime.get_scheduler()" in out.code


def test_registry_and_exports() -> None:
    assert set(codemods.CODEMODS) == {"legacy-to-shim", "generators-to-async", "shim-to-asyncio"}
    assert codemods.CODEMODS["legacy-to-shim"] is LegacyToShimCommand
    assert codemods.CODEMODS["shim-to-asyncio"] is ShimToAsyncioCommand
    for name in codemods.__all__:
        assert hasattr(codemods, name), name
    public = {
        name
        for name, value in vars(codemods).items()
        if not name.startswith("_")
        and not isinstance(value, types.ModuleType | __future__._Feature)
    }
    assert public == set(codemods.__all__) - {"GeneratorsToAsyncCommand"}
    assert LegacyToShimCommand.prefilter() == (b"legacy",)
    assert ShimToAsyncioCommand.prefilter() == (b"shims",)
    with pytest.raises(KeyError):
        codemods.CODEMODS["nope"]


def test_generators_command_resolves_on_first_lookup() -> None:
    cls = codemods.CODEMODS["generators-to-async"]
    assert cls.__name__ == "GeneratorsToAsyncCommand"
    assert callable(getattr(cls, "prefilter", None))
