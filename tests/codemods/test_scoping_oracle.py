"""Differential test: our one-pass scoping agrees with libcst's QualifiedNameProvider.

For each tricky snippet, libcst's (slow, thorough) metadata decides which
``runtime.sleep`` call sites really mean ``legacy.runtime.sleep``; the codemod
must convert exactly those and leave the others (and their lines) alone.
"""

from __future__ import annotations

import textwrap

import libcst as cst
import pytest
from libcst.codemod import CodemodContext
from libcst.metadata import MetadataWrapper, PositionProvider, QualifiedNameProvider

from codemods import LegacyToShimCommand

SNIPPETS = {
    "class attribute does not shadow methods": """
        class C:
            runtime = None
            x = runtime
            def m(self):
                return runtime.sleep(1)
    """,
    "comprehension variable": """
        a = [runtime.sleep(i) for runtime in range(3)]
        b = [runtime.sleep(i) for i in range(3)]
    """,
    "comprehension iterable sees the outer name": """
        def f(runtime):
            return [x for x in runtime.sleep(1)]
        c = [x for x in runtime.sleep(2)]
    """,
    "lambda parameter and default": """
        f = lambda runtime: runtime.sleep(1)
        g = lambda d=runtime.sleep(2): d
    """,
    "global and nonlocal": """
        def f():
            global runtime
            return runtime.sleep(1)
        def g():
            runtime = 1
            def h():
                nonlocal runtime
                return runtime.sleep(2)
            return h
    """,
    "assignment after use still shadows": """
        def f():
            runtime.sleep(1)
            runtime = None
        def g():
            return runtime.sleep(2)
    """,
    "walrus and except-as and for target": """
        def f():
            if (runtime := None):
                pass
            return runtime.sleep(1)
        def g():
            try:
                pass
            except Exception as runtime:
                runtime.sleep(2)
        def h():
            for runtime in []:
                runtime.sleep(3)
            return runtime.sleep(4)
        def k():
            return runtime.sleep(5)
    """,
    "imports in functions": """
        def g():
            import os as runtime
            return runtime.sleep(2)
        def h():
            from legacy import runtime
            return runtime.sleep(3)
    """,
    "class body uses, nested class, decorators, defaults": """
        def deco(x):
            return x
        @deco(runtime.sleep(1))
        class C:
            y = runtime.sleep(2)
            class D:
                z = runtime.sleep(3)
            def m(self, t=runtime.sleep(4)):
                runtime = 5
                return runtime
    """,
}


class _Oracle(cst.CSTVisitor):
    METADATA_DEPENDENCIES = (QualifiedNameProvider, PositionProvider)

    def __init__(self) -> None:
        super().__init__()
        self.lines: list[int] = []

    def visit_Attribute(self, node: cst.Attribute) -> None:
        quals = self.get_metadata(QualifiedNameProvider, node, set())
        if any(q.name == "legacy.runtime.sleep" for q in quals):
            self.lines.append(self.get_metadata(PositionProvider, node).start.line)


def _expected_lines(code: str) -> list[int]:
    oracle = _Oracle()
    MetadataWrapper(cst.parse_module(code)).visit(oracle)
    return sorted(oracle.lines)


@pytest.mark.parametrize("name", list(SNIPPETS))
def test_converted_lines_match_libcst_scope_analysis(name: str) -> None:
    code = "from legacy import runtime\n" + textwrap.dedent(SNIPPETS[name])
    expected = _expected_lines(code)
    assert expected, "every snippet has at least one real use"
    ctx = CodemodContext()
    out = LegacyToShimCommand(ctx).transform_module(cst.parse_module(code)).code
    before, after = code.splitlines(), out.splitlines()
    offset = len(after) - len(before)  # an import line may be added after line 1
    converted = [
        i + 1
        for i, line in enumerate(before)
        if "runtime.sleep" in line and "shims.sleep" in after[i + offset if i else i]
    ]
    assert converted == expected, out


def test_match_capture_shadows_the_import() -> None:
    # libcst's ScopeProvider misses match-pattern bindings, so this one is pinned by hand.
    code = textwrap.dedent(
        """\
        from legacy import runtime

        def f(v):
            match v:
                case [runtime]:
                    return runtime.sleep(1)
            return runtime.sleep(2)
        """
    )
    ctx = CodemodContext()
    out = LegacyToShimCommand(ctx).transform_module(cst.parse_module(code))
    assert out.code == code
    assert ctx.warnings == [
        "line 6: 'runtime' here is a local name that shadows the import of legacy.runtime; "
        "left unchanged",
        "line 7: 'runtime' here is a local name that shadows the import of legacy.runtime; "
        "left unchanged",
    ]
