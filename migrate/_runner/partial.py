"""Parse only the top-level statements a codemod can change.

Theory of operation: when every file of a run changes, most of the time
goes into libcst's parse and code generation of statements the codemod
never touches. A command may say which top-level statements matter to it
(``select_statements``, see :func:`reduce_source`); the others are replaced,
for the libcst parse, by a *placeholder* of the same kind (``()`` for a
simple statement, ``if (): pass`` for a compound one) spanning the same
lines with the same line endings, so line numbers in warnings and the
module's newline convention stay those of the file. After the transform the
placeholders, found again by a marker no file line contains, are swapped back
for the original text. A statement the codemod does not change renders as
its own source, so the result is byte for byte what parsing the whole file
would give.

Why the placeholders cannot change the outcome:

- Statement boundaries come from CPython's own parser (``ast``); statements
  sharing a line (``a = 1; b = 2``) stay together, as in libcst.
- libcst gives the indented comment and whitespace lines after a compound
  statement to that statement's block. A statement preceded by such lines is
  kept or dropped together with the compound statement before it, so every
  kept statement owns exactly the lines it owns in the whole file.
- A placeholder binds and mentions no name, is never rewritten, and keeps the
  compound/simple shape (``__future__`` flags are read up to the first
  compound statement).
- The comment and blank lines after the last statement are left out of the
  parse and put back as they are: a command that selects statements never
  changes them, and libcst does not round-trip them when a blank line is
  followed by an indented comment after a final simple statement (it drops
  the blank line, even from a file it does not change otherwise).

Anything unexpected (a file ``ast`` cannot parse, a lone ``\\r`` line
ending, which libcst does not round-trip, a placeholder missing from the
result) makes the caller fall back to parsing the whole file.
"""

from __future__ import annotations

import ast
import re
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from codemods._rename.relevant import Chunk

__all__ = ["Chunk", "Reduced", "Selector", "reduce_source"]

#: A command's choice: one flag per chunk (True: the codemod may need it), or None for all.
Selector = Callable[[Sequence[Chunk]], Sequence[bool] | None]

_LONE_CR = re.compile(r"\r(?!\n)")
_INDENTED = re.compile(r"[ \t\f]")


@dataclass(frozen=True)
class _Statement:
    """One libcst top-level statement and its shape.

    Lines are 0-based: its code runs from ``first`` to ``last``; it owns the
    lines from ``start`` (the one after the previous statement) to ``last``.
    """

    start: int
    first: int
    last: int
    compound: bool
    nodes: tuple[ast.stmt, ...]


@dataclass(frozen=True)
class Reduced:
    """The source to parse, and how to put the left-out statements back."""

    text: str
    placeholders: tuple[tuple[str, str], ...]  # (placeholder, original text)
    tail: str  # the comment and blank lines after the last statement

    def restore(self, code: str) -> str | None:
        """Return ``code`` with each placeholder replaced by its original text.

        None if a placeholder is missing (the caller then parses the whole file).
        """
        out: list[str] = []
        pos = 0
        for placeholder, original in self.placeholders:
            at = code.find(placeholder, pos)
            if at < 0:
                return None
            out += (code[pos:at], original)
            pos = at + len(placeholder)
        out += (code[pos:], self.tail)
        return "".join(out)


def reduce_source(text: str, select: Selector) -> Reduced | None:
    """Return ``text`` with the statements ``select`` leaves out replaced by placeholders.

    ``select`` gets the file's chunks (one or more consecutive top-level
    statements that must be kept or left out together) in order. None when
    there is nothing to leave out or the file does not qualify (see the
    module docstring); the caller then parses ``text`` itself.
    """
    if "\r" in text and _LONE_CR.search(text):
        return None
    statements = _statements(text)
    if not statements:
        return None
    lines = [line + "\n" for line in text.split("\n")]
    lines[-1] = lines[-1][:-1]  # the text after the last newline (often empty)
    groups = _groups(statements, lines)
    chunks = [
        (
            "".join(lines[group[0].start : group[-1].last + 1]),
            tuple(node for s in group for node in s.nodes),
        )
        for group in groups
    ]
    wanted = select(chunks)
    tail = "".join(lines[statements[-1].last + 1 :])
    if wanted is None or (all(wanted) and not tail):
        return None
    marker = _marker(text)
    parts: list[str] = []
    placeholders: list[tuple[str, str]] = []
    for group, keep in zip(groups, wanted, strict=True):
        for s in group:
            own = lines[s.start : s.last + 1]
            if keep:
                parts.extend(own)
            else:
                original = "".join(own)
                label = f"{marker}{len(placeholders)}."  # "-1." is no prefix of "-10."
                placeholder = _placeholder(own, s.compound, label)
                parts.append(placeholder)
                placeholders.append((placeholder, original))
    return Reduced("".join(parts), tuple(placeholders), tail)


def _statements(text: str) -> list[_Statement] | None:
    """Return the top-level statements as libcst sees them, or None if ``ast`` cannot parse."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # e.g. invalid escape sequences
        try:
            module = ast.parse(text)
        except (SyntaxError, ValueError, RecursionError, MemoryError):
            return None
    out: list[_Statement] = []
    for node in module.body:
        first = min([node.lineno, *(d.lineno for d in getattr(node, "decorator_list", ()))]) - 1
        last = (node.end_lineno or node.lineno) - 1
        compound = hasattr(node, "body") or isinstance(node, ast.Match)
        if out and first <= out[-1].last:  # ``a = 1; b = 2``: one statement line
            prev = out.pop()
            nodes = (*prev.nodes, node)
            out.append(_Statement(prev.start, prev.first, last, prev.compound, nodes))
        else:
            start = out[-1].last + 1 if out else 0
            out.append(_Statement(start, first, last, compound, (node,)))
    return out


def _groups(statements: list[_Statement], lines: list[str]) -> list[list[_Statement]]:
    """Group each statement with the compound one before it when lines between are indented."""
    groups: list[list[_Statement]] = []
    for i, s in enumerate(statements):
        prev = statements[i - 1] if i else None
        if (
            prev is not None
            and prev.compound
            and any(_INDENTED.match(line) for line in lines[prev.last + 1 : s.first])
        ):
            groups[-1].append(s)
        else:
            groups.append([s])
    return groups


def _marker(text: str) -> str:
    marker = "migrate-placeholder-"
    while marker in text:
        marker += "-"
    return marker


def _placeholder(lines: Sequence[str], compound: bool, label: str) -> str:
    """Return a statement of the given shape over ``len(lines)`` lines, same line endings."""
    ends = [line[len(line.rstrip("\r\n")) :] for line in lines]
    head, tail = ("if (", "): pass") if compound else ("(", ")")
    if len(lines) == 1:
        return f"{head}{tail} #{label}{ends[0]}"
    return f"{head} #{label}{ends[0]}{''.join(ends[1:-1])}{tail}{ends[-1]}"
