"""Which top-level statements the rename engine says it may need."""

from __future__ import annotations

import ast
from collections.abc import Sequence

import libcst as cst
from libcst.codemod import CodemodContext

from codemods import LegacyToShimCommand
from codemods._rename.relevant import Chunk


def chunks(*texts: str) -> list[Chunk]:
    return [(text, tuple(ast.parse(text).body)) for text in texts]


def selected(*texts: str) -> list[bool] | None:
    return LegacyToShimCommand(CodemodContext()).select_statements(chunks(*texts))


def test_imports_of_the_source_and_uses_of_what_they_bind() -> None:
    assert selected(
        "from legacy.runtime import connect as c\n",
        "def f():\n    return c('h', 1)\n",
        "def g():\n    return cc + abc\n",
        "x = 1\n",
    ) == [True, True, False, False]


def test_nested_imports_bind_too() -> None:
    assert selected(
        "def f():\n    from legacy import runtime as rt\n    return rt\n",
        "y = rt\n",
        "z = runtime\n",
    ) == [True, True, False]


def test_target_names_all_and_future_are_always_needed() -> None:
    assert selected(
        "from __future__ import annotations\n",
        "def gather():\n    pass\n",
        "shims = 3\n",
        "__all__ = []\n",
        "TimeoutError = ValueError\n",
        "plain = 1\n",
    ) == [True, True, True, True, True, False]


def test_a_word_inside_a_string_annotation_counts() -> None:
    assert selected(
        "import legacy.runtime as rt\n",
        "x: '9rt.Lock' = None\n",
        "y: 'a.rt' = None\n",
        "z: 'art' = None\n",
    ) == [True, True, True, False]


def test_a_subclass_that_transforms_differently_gets_every_statement() -> None:
    class Custom(LegacyToShimCommand):
        def transform_module_impl(self, tree: cst.Module) -> cst.Module:
            return tree

    class Visitor(LegacyToShimCommand):
        def on_visit(self, node: cst.CSTNode) -> bool:
            return True

    given: Sequence[Chunk] = chunks("x = 1\n")
    assert Custom(CodemodContext()).select_statements(given) is None
    assert Visitor(CodemodContext()).select_statements(given) is None
