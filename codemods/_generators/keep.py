"""Which converted functions keep returning a Deferred (twisted preset).

Theory of operation: a converted function is *kept* when its ``def`` stays
a plain function whose body is the ``async def`` as a local closure of the
same name and signature, returned through ``defer.ensureDeferred`` (built
by ``_generators.deferred.keep_api``). Calling it then does what calling
the ``@inlineCallbacks`` function did: runs the coroutine to its first
``await`` and returns a ``Deferred``. So no caller of a kept function, in
this file or outside it, needs a rewrite or a refusal.

Two kinds are kept:

- always, a method overriding a framework callback whose caller needs a
  Deferred (the preset's ``callbacks``: ``connectionMade``,
  ``stopService``, ...), which Twisted calls and which must return one;
- with the keep-API option, every public function (name without a leading
  ``_``, or a dunder; not nested in a function; not a test runner's method).

Keeping needs a function with no decorator but the preset's (a decorator
would wrap the outer def, not the coroutine) and a body that does not name
the function itself (the closure's name would shadow the module's).
"""

from __future__ import annotations

import re
from collections.abc import Sequence

import libcst as cst

from .facts import FuncFacts
from .presets import Preset

__all__ = ["keeps_deferred", "public", "why_not_kept"]


def public(node: cst.FunctionDef, nested: bool) -> bool:
    """Tell whether a function is part of its module's public API."""
    name = node.name.value
    return not nested and (
        not name.startswith("_") or (name.startswith("__") and name.endswith("__"))
    )


class _Names(cst.CSTVisitor):
    """Tell whether a body reads or binds ``name`` as a plain name (not an attribute)."""

    def __init__(self, name: str) -> None:
        super().__init__()
        self.name = name
        self.found = False

    def visit_Name(self, node: cst.Name) -> None:
        if node.value == self.name:
            self.found = True

    def visit_Attribute(self, node: cst.Attribute) -> bool:
        node.value.visit(self)  # ``x.name`` is an attribute, not the name
        return False

    def visit_Arg(self, node: cst.Arg) -> bool:
        node.value.visit(self)  # ``f(name=1)`` is a keyword, not the name
        return False


def why_not_kept(func: FuncFacts) -> str | None:
    """Return why ``func`` (still decorated once, by the preset) cannot be kept, or None."""
    node = func.node
    if len(node.decorators) != 1:
        return "it has another decorator, which would wrap the Deferred, not the coroutine"
    names = _Names(func.name)
    node.body.visit(names)
    if names.found:
        return (
            f"its body names {func.name!r}, which the async closure of the same name would shadow"
        )
    return None


def keeps_deferred(cands: Sequence[FuncFacts], preset: Preset, keep_api: bool) -> set[int]:
    """Return the ``id()`` of each candidate node that stays a Deferred-returning ``def``."""
    if preset.wrapper is None:
        return set()
    runner = re.compile(preset.runner_methods) if preset.runner_methods else None
    kept: set[int] = set()
    for func in cands:
        if func.node.asynchronous is not None or why_not_kept(func) is not None:
            continue
        callback = func.in_class and func.name in preset.callbacks
        api = (
            keep_api
            and public(func.node, func.parent is not None)
            and not (func.in_class and runner is not None and runner.fullmatch(func.name))
        )
        if callback or api:
            kept.add(id(func.node))
    return kept
