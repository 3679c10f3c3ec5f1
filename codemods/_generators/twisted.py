"""What the ``twisted`` preset of generators-to-async needs beyond the shared engine.

Theory of operation: ``@inlineCallbacks`` runs a generator as a coroutine
with three habits an ``async def`` does not share, and each is checked here
before a function is converted:

- ``returnValue(x)`` ends the generator by raising ``_DefGen_Return``, a
  ``BaseException``. As a statement of the function's own body it becomes
  ``return x`` unless a bare ``except:`` or ``except BaseException`` around
  it would have caught it (``except Exception`` does not), or a ``with``
  block whose context manager would see that exception where ``return``
  shows none (a transaction rolled back would now commit). Called from a
  nested function or a helper, it ends the enclosing generator, which no
  ``return`` can: refused.
- A yielded value that is not a ``Deferred`` (or coroutine) is handed
  straight back: ``yield 3`` is ``3``, ``yield [d1, d2]`` is the list (not
  its results), a reachable bare ``yield`` is ``None``. ``await`` raises
  ``TypeError`` on those, so a yield of a literal, a display, ``None`` or a
  bare ``yield`` is refused; any other value (a call, a name) is taken to
  be a ``Deferred`` or coroutine, which ``await`` waits for as
  ``inlineCallbacks`` did.
- Calling an ``@inlineCallbacks`` function runs it to its first ``yield``
  and returns a ``Deferred``; ``defer.ensureDeferred(coro)`` does exactly
  that for a coroutine. So every call of a converted function that is not
  awaited (``d = f()``, ``f().addCallback(...)``, ``gatherResults([f()])``,
  ``return f()`` from a plain function, a trial test returning it) is
  wrapped in it (``_generators.deferred``): callers keep getting a ``Deferred``.
  The uses no wrapping can keep working are refused (``_generators.callers``).

A method overriding a framework callback whose caller needs a Deferred
(the preset's ``callbacks``: ``connectionMade``, ``stopService``, ...) is
converted but keeps returning a Deferred (``_generators.keep``); one that
cannot (another decorator) is refused, as is ``@inlineCallbacks`` on an
``async def``.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field

import libcst as cst

from .callers import use_reasons
from .facts import Facts, FuncFacts
from .keep import why_not_kept
from .presets import Preset
from .yields import _PLAIN

__all__ = [
    "ReturnValue",
    "find_return_values",
    "twisted_reasons",
]


@dataclass(frozen=True, eq=False)
class ReturnValue:
    """One ``returnValue(...)`` call and where it sits."""

    call: cst.Call
    owner: cst.FunctionDef | None  # the def whose own body holds it (None: module/lambda)
    enclosing: tuple[cst.FunctionDef, ...]  # every def around it, innermost last
    statement: cst.Expr | None  # the expression statement it is, if it is one
    catches: cst.CSTNode | None  # a handler around it that catches BaseException
    within: cst.With | None  # the innermost with statement around it, in its own scope


@dataclass
class _Frame:
    func: cst.FunctionDef | None
    handlers: list[list[cst.ExceptHandler | cst.ExceptStarHandler]] = field(default_factory=list)
    withs: list[cst.With] = field(default_factory=list)


class _Finder(cst.CSTVisitor):
    def __init__(self, facts: Facts, returns: frozenset[str]) -> None:
        super().__init__()
        self.facts = facts
        self.returns = returns
        self.frames: list[_Frame] = [_Frame(None)]
        self.defs: list[cst.FunctionDef] = []
        self.found: list[ReturnValue] = []
        self.statements: dict[int, cst.Expr] = {}

    def visit_FunctionDef(self, node: cst.FunctionDef) -> None:
        self.defs.append(node)
        self.frames.append(_Frame(node))

    def leave_FunctionDef(self, original_node: cst.FunctionDef) -> None:
        self.defs.pop()
        self.frames.pop()

    def visit_Lambda(self, node: cst.Lambda) -> None:
        self.frames.append(_Frame(None))

    def leave_Lambda(self, original_node: cst.Lambda) -> None:
        self.frames.pop()

    def visit_ClassDef(self, node: cst.ClassDef) -> None:
        self.frames.append(_Frame(None))

    def leave_ClassDef(self, original_node: cst.ClassDef) -> None:
        self.frames.pop()

    def visit_Try_body(self, node: cst.Try) -> None:
        self.frames[-1].handlers.append(list(node.handlers))

    def leave_Try_body(self, node: cst.Try) -> None:
        self.frames[-1].handlers.pop()

    def visit_TryStar_body(self, node: cst.TryStar) -> None:
        self.frames[-1].handlers.append(list(node.handlers))

    def leave_TryStar_body(self, node: cst.TryStar) -> None:
        self.frames[-1].handlers.pop()

    def visit_With(self, node: cst.With) -> None:
        self.frames[-1].withs.append(node)

    def leave_With(self, original_node: cst.With) -> None:
        self.frames[-1].withs.pop()

    def visit_Expr(self, node: cst.Expr) -> None:
        if isinstance(node.value, cst.Call):
            self.statements[id(node.value)] = node

    def visit_Call(self, node: cst.Call) -> None:
        if self.facts.imports.resolve(node.func) not in self.returns:
            return
        frame = self.frames[-1]
        catches = next(
            (h for hs in frame.handlers for h in hs if _catches_base(h, self.facts)), None
        )
        self.found.append(
            ReturnValue(
                node,
                frame.func,
                tuple(self.defs),
                self.statements.get(id(node)),
                catches,
                frame.withs[-1] if frame.withs else None,
            )
        )


def _catches_base(handler: cst.ExceptHandler | cst.ExceptStarHandler, facts: Facts) -> bool:
    kind = handler.type
    if kind is None:
        return True
    kinds = [e.value for e in kind.elements] if isinstance(kind, cst.Tuple) else [kind]
    return any(
        (isinstance(k, cst.Name) and k.value == "BaseException")
        or facts.imports.resolve(k) == "twisted.internet.defer._DefGen_Return"
        for k in kinds
    )


def find_return_values(
    module: cst.Module, facts: Facts, returns: frozenset[str]
) -> list[ReturnValue]:
    """Return every call of a ``returns`` function (``returnValue``) in ``module``."""
    finder = _Finder(facts, returns)
    module.visit(finder)
    return finder.found


def twisted_reasons(
    module: cst.Module,
    facts: Facts,
    cands: Sequence[FuncFacts],
    return_values: Sequence[ReturnValue],
    preset: Preset,
    dead: frozenset[int],
    keeps: frozenset[int] = frozenset(),
) -> Iterator[tuple[FuncFacts, cst.CSTNode, str]]:
    """Yield (candidate, node, reason) for every candidate the preset's rules refuse.

    ``return_values`` come from ``find_return_values``; ``dead`` holds the
    ids of unreachable bare yield statements (the engine removes those);
    ``keeps`` the ids of the candidates that keep returning a Deferred
    (``_generators.keep``), whose callers need nothing.
    """
    by_node = {id(f.node): f for f in cands}
    by_key: dict[str, list[FuncFacts]] = {}
    for f in cands:
        by_key.setdefault(f.key, []).append(f)
    yield from _return_value_reasons(facts, by_node, return_values)
    for func in cands:
        if func.node.asynchronous is not None:
            yield (
                func,
                func.node,
                f"{func.name}() is already an async def under @inlineCallbacks (which "
                "raises TypeError for one); remove the decorator by hand",
            )
        elif func.in_class and func.name in preset.callbacks and id(func.node) not in keeps:
            yield (
                func,
                func.node,
                f"{func.name}() overrides a Twisted callback whose caller needs a Deferred, "
                f"and it cannot keep returning one: {why_not_kept(func)}; keep it "
                "@inlineCallbacks, or make it return defer.ensureDeferred(...) of an async "
                "helper by hand",
            )
        for node in func.yields if preset.passthrough else ():
            reason = _yield_reason(node, facts, dead)
            if reason is not None:
                yield func, node, reason
    if preset.wrapper is not None:
        yield from use_reasons(module, facts, by_key, preset.consumers, keeps)


def _return_value_reasons(
    facts: Facts,
    by_node: dict[int, FuncFacts],
    return_values: Sequence[ReturnValue],
) -> Iterator[tuple[FuncFacts, cst.CSTNode, str]]:
    helpers: dict[str, cst.Call] = {}
    for rv in return_values:
        owner = by_node.get(id(rv.owner)) if rv.owner is not None else None
        if owner is not None:
            if rv.catches is not None:
                yield (
                    owner,
                    rv.call,
                    "returnValue() raises a BaseException that the bare except / except "
                    "BaseException around it catches; as a return it would not: rewrite that "
                    "except clause first",
                )
            elif rv.within is not None:
                yield (
                    owner,
                    rv.call,
                    "returnValue() inside a with block: its context manager sees a "
                    "BaseException where return shows none (a transaction would roll back, "
                    "now it would commit); move it after the with block by hand",
                )
            elif rv.statement is None:
                yield owner, rv.call, "returnValue() used inside an expression; make it a statement"
            elif len(rv.call.args) != 1 or rv.call.args[0].keyword or rv.call.args[0].star:
                yield owner, rv.call, "returnValue() takes exactly one positional argument"
            continue
        outer = next((by_node[id(d)] for d in reversed(rv.enclosing) if id(d) in by_node), None)
        if outer is not None:
            yield (
                outer,
                rv.call,
                "returnValue() in a nested function ends the enclosing @inlineCallbacks "
                "generator; an async def cannot be ended from a helper: return a value from "
                "the helper instead",
            )
        elif rv.enclosing:
            helper = rv.enclosing[-1]
            key = helper.name.value
            helpers[key] = rv.call
            helpers["." + key] = rv.call
    if not helpers:
        return
    for call in facts.calls:
        scope = call.scope
        if call.key in helpers and scope is not None and id(scope.node) in by_node:
            yield (
                by_node[id(scope.node)],
                call.node,
                f"{call.key.lstrip('.')}() calls returnValue() to end this coroutine; make it "
                "return a value instead",
            )


def _yield_reason(node: cst.Yield, facts: Facts, dead: frozenset[int]) -> str | None:
    value = node.value
    if value is None:
        stmt = facts.yield_stmt.get(id(node))
        if stmt is not None and id(stmt) in dead:
            return None
        return (
            "a bare yield in @inlineCallbacks hands None straight back (it is no scheduling "
            "point); delete it, or yield a Deferred"
        )
    if isinstance(value, cst.From):
        return None
    plain = isinstance(value, _PLAIN) or (
        isinstance(value, cst.Name) and value.value in ("None", "True", "False")
    )
    if not plain:
        return None
    what = "a list" if isinstance(value, cst.List | cst.ListComp) else "a plain value"
    hint = "gatherResults() or DeferredList()" if what == "a list" else "the value itself"
    return (
        f"yield of {what}: inlineCallbacks hands it straight back, await would raise "
        f"TypeError; use {hint} instead"
    )
