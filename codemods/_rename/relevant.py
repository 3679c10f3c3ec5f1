"""Which top-level statements the rename engine can need, judged from their text.

A runner that parses only part of a file (``migrate codemod`` does) asks the
command which top-level statements matter. For the rename engine the answer
is: every statement whose text contains one of a few *words*, where a word
counts when it is not preceded by an ASCII letter or ``_`` and not followed
by a word character (looser than an identifier match, so a string
annotation's ``"x.runtime"`` counts too). The words:

- the source module's top package (every related import spells it);
- every name an import in such a statement binds (``from legacy.runtime
  import connect as c`` binds ``c``), so every use, rebinding or shadowing
  of an imported name is kept;
- every name in the spec's targets (``shims``, ``gather``, ``TimeoutError``:
  the planner asks whether they are free, imported or rebound anywhere),
  ``__all__`` and ``__future__``;
- every attribute name a rule's ``conflicts`` guard watches (``locked``):
  reading it anywhere in the file refuses that rule's conversions.

Everything the scan records and the planner consults is a name or a string
annotation spelled with one of these words, so a statement without any of
them neither changes nor changes what happens to the others.
"""

from __future__ import annotations

import ast
import functools
import re
from collections.abc import Iterable, Sequence

from .spec import Spec

__all__ = ["Chunk", "select_statements"]

#: A run of top-level statements, as a runner hands it over: source text and ``ast`` nodes.
Chunk = tuple[str, tuple[ast.stmt, ...]]


def select_statements(spec: Spec, chunks: Sequence[Chunk]) -> list[bool]:
    """Return, per chunk, whether the statements in it can matter to a rename by ``spec``."""
    root = _pattern(frozenset({spec.source.split(".")[0]}))
    bound: set[str] = set()
    for text, nodes in chunks:
        if root.search(text):
            bound.update(_import_bindings(nodes))
    words = _pattern(_spec_words(spec) | bound)
    return [words.search(text) is not None for text, _ in chunks]


def _import_bindings(nodes: Iterable[ast.stmt]) -> set[str]:
    """Return every name any import in ``nodes`` binds (nested ones included)."""
    out: set[str] = set()
    for top in nodes:
        for node in ast.walk(top):
            if isinstance(node, ast.Import):
                out.update(a.asname or a.name.split(".")[0] for a in node.names)
            elif isinstance(node, ast.ImportFrom):
                out.update(a.asname or a.name for a in node.names if a.name != "*")
    return out


def _spec_words(spec: Spec) -> frozenset[str]:
    words = {spec.source.split(".")[0], "__all__", "__future__"}
    for rule in spec.rules.values():
        words.update(re.findall(r"[A-Za-z_]\w*", f"{rule.target.module} {rule.target.expr}"))
        # a guard's attribute (``.locked``) read anywhere refuses a conversion
        words.update(c[1:] for c in rule.conflicts if c.startswith("."))
    return frozenset(words)


@functools.lru_cache(maxsize=256)
def _pattern(words: frozenset[str]) -> re.Pattern[str]:
    alternatives = "|".join(re.escape(w) for w in sorted(words, key=len, reverse=True))
    return re.compile(rf"(?<![A-Za-z_])(?:{alternatives})(?!\w)")
