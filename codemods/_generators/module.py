"""Module-level steps of generators-to-async: the cheap pre-scan and the import edits.

``may_apply`` decides from statements alone whether a module needs the full
analysis at all (most files of a monorepo do not).

libcst's ``RemoveImportsVisitor`` and ``AddImportsVisitor`` are the right
tools (they keep the import block's layout and merge ``from`` imports), but
each run deep-copies the module and walks all of it; ``RemoveImportsVisitor``
also runs a scope analysis, which costs many times the parse.
Both only ever edit the module's import block, so they are run on the head
of the module (everything up to its last top-level import) and the rest is
put back unchanged. That is only sound for removal if no reference is left
below the head: a binding is scheduled for removal only when our own count
of its name (an upper bound: every bare ``Name`` in the file, attribute
names and import statements excepted) shows that the conversion removed
every reference, no string mentions it as a word (``__all__``, string
annotations; ``"report"`` does not mention ``rt``),
and the conversion does not add one back (``asyncio.sleep(0)`` and such).
"""

from __future__ import annotations

import io
import re
import tokenize
from collections import Counter
from collections.abc import Sequence

import libcst as cst
from libcst.codemod import CodemodContext
from libcst.codemod.visitors import AddImportsVisitor, RemoveImportsVisitor

from .._names import dotted_name
from .facts import Facts
from .import_table import ImportTable
from .plan import Plan

__all__ = ["apply_import_changes", "may_apply", "rename_asyncio_async", "schedule_import_changes"]


def rename_asyncio_async(text: str) -> str:
    """Return ``text`` with ``asyncio.async`` spelled ``asyncio.ensure_future``.

    ``async`` is a keyword since Python 3.7, so a file that still names
    ``asyncio.async`` (Python 3.4's spelling, often in a fallback branch)
    does not parse at all, for libcst or for CPython; this runs on the text,
    before the parse, and touches only that token sequence (never strings
    or comments). Text that does not tokenize is returned as it is.
    """
    if "asyncio.async" not in text:
        return text
    try:
        tokens = list(tokenize.generate_tokens(io.StringIO(text).readline))
    except (tokenize.TokenError, SyntaxError):
        return text
    lines = text.splitlines(keepends=True)
    for first, dot, name in reversed(list(zip(tokens, tokens[1:], tokens[2:], strict=False))):
        if (first.string, dot.string, name.string) != ("asyncio", ".", "async"):
            continue
        if first.type != tokenize.NAME or name.type != tokenize.NAME:
            continue
        row, col = name.start
        line = lines[row - 1]
        lines[row - 1] = line[:col] + "ensure_future" + line[col + len("async") :]
    return "".join(lines)


def schedule_import_changes(context: CodemodContext, facts: Facts, plan: Plan) -> None:
    """Ask the libcst import visitors for the imports ``plan`` makes unused or needed."""
    added = {need.split(".", 1)[0] for need in plan.needs if need != "legacy"}
    if "legacy" in plan.needs:
        added.add(plan.runtime.split(".", 1)[0])
    for binding, count in Counter(plan.removals).items():
        local = binding.asname or binding.obj or binding.module.split(".", 1)[0]
        if facts.names[local] > count or local in added:
            continue
        mentioned = re.compile(rf"(?<![\w.]){re.escape(local)}\b")
        if any(mentioned.search(text) for text in facts.strings):
            continue
        RemoveImportsVisitor.remove_unused_import(
            context, binding.module, binding.obj, binding.asname
        )
    for need in sorted(plan.needs):
        if need == "legacy.runtime":
            AddImportsVisitor.add_needed_import(context, "legacy", "runtime")
        elif need in ("asyncio", "types", "functools", "inspect") and not facts.imports.has_module(
            need
        ):
            AddImportsVisitor.add_needed_import(context, need)


def _is_import_line(statement: cst.BaseStatement) -> bool:
    return isinstance(statement, cst.SimpleStatementLine) and any(
        isinstance(s, cst.Import | cst.ImportFrom) for s in statement.body
    )


def _head_length(body: Sequence[cst.BaseStatement]) -> int:
    """Return how many leading statements hold the docstring and every top-level import."""
    first = body[0] if body else None
    docstring = (
        isinstance(first, cst.SimpleStatementLine)
        and isinstance(first.body[0], cst.Expr)
        and isinstance(first.body[0].value, cst.SimpleString | cst.ConcatenatedString)
    )
    length = 1 if docstring else 0
    for index, statement in enumerate(body):
        if _is_import_line(statement):
            length = index + 1
    return length


def apply_import_changes(
    context: CodemodContext, tree: cst.Module, adaptor: Sequence[cst.BaseStatement] = ()
) -> cst.Module:
    """Run the scheduled import visitors on the import block of ``tree`` only.

    ``adaptor`` statements go right after that block.
    """
    keys = (
        (AddImportsVisitor.CONTEXT_KEY, AddImportsVisitor),
        (RemoveImportsVisitor.CONTEXT_KEY, RemoveImportsVisitor),
    )
    if not any(key in context.scratch for key, _ in keys):
        return tree
    split = _head_length(tree.body)
    head = tree.with_changes(body=tree.body[:split])
    for key, transform in keys:
        if key in context.scratch:
            head = transform(context).transform_module(head)
    body = [*head.body, *adaptor, *tree.body[split:]]
    if body and tree.body and body[0] is not tree.body[0] and _is_import_line(tree.body[0]):
        # The import that opened the file is gone: so are the blank lines
        # that separated it from what now opens the file.
        first = body[0]
        if isinstance(first, cst.SimpleStatementLine | cst.BaseCompoundStatement):
            lines = list(first.leading_lines)
            while lines and lines[0].comment is None:
                lines.pop(0)
            body[0] = first.with_changes(leading_lines=lines)
    return tree.with_changes(body=body)


_COMPOUND_BLOCKS = ("body", "orelse", "finalbody")


def may_apply(
    module: cst.Module,
    decorators: frozenset[str],
    *,
    asyncio_calls: bool,
    hints: frozenset[str] = frozenset(),
) -> bool:
    """Tell cheaply, from statements only, whether the full analysis can find anything.

    Walks statements (not expressions), which are a small share of a tree's
    nodes: a module whose imports and decorators show no coroutine decorator
    of the preset (and, when ``asyncio_calls``, imports nothing from
    asyncio) is skipped without the full walk. Never a false negative: every
    import and every decorator is a statement-level construct.
    """
    table = ImportTable()
    found: list[cst.BaseExpression] = []
    stack: list[cst.CSTNode] = list(module.body)
    while stack:
        node = stack.pop()
        if isinstance(node, cst.SimpleStatementLine | cst.SimpleStatementSuite):
            for small in node.body:
                if isinstance(small, cst.Import | cst.ImportFrom):
                    table.add_import(small)
            continue
        if isinstance(node, cst.FunctionDef):
            found.extend(d.decorator for d in node.decorators)
            if asyncio_calls and node.name.value in ("__await__", "__iter__"):
                return True  # a plain generator implementing await may delegate
        if isinstance(node, cst.Try | cst.TryStar):
            stack.extend(node.handlers)
        if isinstance(node, cst.Match):
            stack.extend(node.cases)
        for attr in _COMPOUND_BLOCKS:
            block = getattr(node, attr, None)
            if isinstance(block, cst.Else | cst.Finally | cst.If):
                stack.append(block)
            elif isinstance(block, cst.BaseSuite):
                stack.extend(block.body)
    if asyncio_calls and table.imports_from("asyncio"):
        return True
    targets = [d.func if isinstance(d, cst.Call) else d for d in found]
    return any(table.resolve(d) in decorators for d in found) or any(
        table.resolve(t) in hints or dotted_name(t) in hints for t in targets
    )
