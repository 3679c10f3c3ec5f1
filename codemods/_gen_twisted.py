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
  wrapped in it by ``wrap_calls``: callers keep getting a ``Deferred``.

What cannot be followed is refused: a converted function passed as a value
(``d.addCallback(self.f)``, ``callLater(1, self.f)``: its caller would get
a coroutine and never run it; ``maybeDeferred`` and a trial test case's
``self.addCleanup`` accept one), handed
to ``task.cooperate``/``coiterate`` (which iterate generators), called on
a receiver other than ``self``/``cls`` without ``yield`` (it may or may not
be ours), or overriding a framework callback whose caller needs a
``Deferred`` (``PRESET_CALLBACKS``).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field

import libcst as cst

from ._gen_deferred import Instances, our_key
from ._gen_facts import Facts, FuncFacts, call_key
from ._gen_presets import Preset
from ._gen_yields import _PLAIN

__all__ = [
    "ReturnValue",
    "find_return_values",
    "twisted_reasons",
]

# trial's TestCase classes: their addCleanup() runs a cleanup through
# maybeDeferred, which accepts a coroutine function.
_TRIAL_CASES = frozenset(
    {"twisted.trial.unittest.TestCase", "twisted.trial.unittest.SynchronousTestCase"}
)
# Callables that accept a coroutine function in place of a Deferred-returning one.
_ACCEPT_COROUTINE_FUNCTIONS = frozenset(
    {"twisted.internet.defer.maybeDeferred", "twisted.internet.task.react"}
)


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
) -> Iterator[tuple[FuncFacts, cst.CSTNode, str]]:
    """Yield (candidate, node, reason) for every candidate the preset's rules refuse.

    ``return_values`` come from ``find_return_values``; ``dead`` holds the
    ids of unreachable bare yield statements (the engine removes those).
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
        if func.in_class and func.name in preset.callbacks:
            yield (
                func,
                func.node,
                f"{func.name}() overrides a Twisted callback whose caller needs a Deferred "
                "(a coroutine would never run); keep it @inlineCallbacks, or make it return "
                "defer.ensureDeferred(...) of an async helper by hand",
            )
        for node in func.yields if preset.passthrough else ():
            reason = _yield_reason(node, facts, dead)
            if reason is not None:
                yield func, node, reason
    if preset.wrapper is not None:
        yield from _use_reasons(module, facts, by_key, preset.consumers)


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


class _Uses(cst.CSTVisitor):
    """Record how each candidate's name is used: called (and how) or passed as a value."""

    def __init__(self, names: set[str], instances: Instances, facts: Facts) -> None:
        super().__init__()
        self.names = names
        self.instances = instances
        self.facts = facts
        self.trial: list[bool] = []  # per enclosing class: is it a trial TestCase?
        self.cleanups: set[int] = set()  # id() of arguments of a trial self.addCleanup()
        self.callees: set[int] = set()
        self.decorators: set[int] = set()
        self.awaited: set[int] = set()
        self.values: list[tuple[str, cst.CSTNode]] = []
        self.foreign_calls: list[tuple[str, cst.Call]] = []
        self.args_of: dict[int, cst.Call] = {}

    def visit_Decorator(self, node: cst.Decorator) -> None:
        self.decorators.add(id(node.decorator))

    def visit_Yield(self, node: cst.Yield) -> None:
        if node.value is not None and not isinstance(node.value, cst.From):
            self.awaited.add(id(node.value))

    def visit_Await(self, node: cst.Await) -> None:
        self.awaited.add(id(node.expression))

    def visit_ClassDef(self, node: cst.ClassDef) -> None:
        bases = {self.facts.imports.resolve(b.value) for b in node.bases}
        self.trial.append(bool(bases & _TRIAL_CASES))

    def leave_ClassDef(self, original_node: cst.ClassDef) -> None:
        self.trial.pop()

    def visit_Call(self, node: cst.Call) -> None:
        self.callees.add(id(node.func))
        for arg in node.args:
            self.args_of[id(arg.value)] = node
        func = node.func
        if (
            self.trial
            and self.trial[-1]
            and isinstance(func, cst.Attribute)
            and func.attr.value == "addCleanup"
            and isinstance(func.value, cst.Name)
            and func.value.value == "self"
            and node.args
        ):
            self.cleanups.add(id(node.args[0].value))  # trial runs it through maybeDeferred
        if (
            isinstance(func, cst.Attribute)
            and func.attr.value in self.names
            and our_key(node, self.instances) is None
            and id(node) not in self.awaited
        ):
            self.foreign_calls.append((func.attr.value, node))

    def visit_Name(self, node: cst.Name) -> None:
        if node.value in self.names and id(node) not in self.callees:
            self.values.append((node.value, node))

    def visit_Attribute(self, node: cst.Attribute) -> bool:
        if (
            node.attr.value in self.names
            and isinstance(node.value, cst.Name)
            and node.value.value in ("self", "cls")
            and id(node) not in self.callees
        ):
            self.values.append(("." + node.attr.value, node))
        node.value.visit(self)
        return False

    def visit_FunctionDef_name(self, node: cst.FunctionDef) -> None:
        self.callees.add(id(node.name))  # the def's own name is no use


def _use_reasons(
    module: cst.Module,
    facts: Facts,
    by_key: dict[str, list[FuncFacts]],
    consumers: frozenset[str],
) -> Iterator[tuple[FuncFacts, cst.CSTNode, str]]:
    names = {key.lstrip(".") for key in by_key}
    uses = _Uses(names, Instances(module), facts)
    module.visit(uses)
    for key, node in uses.values:
        if id(node) in uses.decorators or key not in by_key:
            continue
        call = uses.args_of.get(id(node))
        via = facts.imports.resolve(call.func) if call is not None else None
        if via in _ACCEPT_COROUTINE_FUNCTIONS and call is not None and call.args[0].value is node:
            continue
        if id(node) in uses.cleanups:
            continue
        for func in by_key[key]:
            yield (
                func,
                node,
                f"{func.name} is passed as a value (a callback?): whoever calls it would get a "
                "coroutine instead of a Deferred and never run it; wrap it by hand",
            )
    for fact in facts.calls:
        if facts.imports.resolve(fact.node.func) not in consumers:
            continue
        for arg in fact.node.args:
            inner = arg.value
            called = call_key(inner) if isinstance(inner, cst.Call) else None
            for func in by_key.get(called or "", []):
                yield (
                    func,
                    fact.node,
                    f"{func.name}() is handed to {fact.name}(), which iterates a generator; "
                    "an async def is not one: keep it a plain generator",
                )
    for name, call_node in uses.foreign_calls:
        for key in (name, "." + name):
            for func in by_key.get(key, []):
                yield (
                    func,
                    call_node,
                    f"{name}() is called on a receiver other than self/cls without yield; it "
                    "may be this coroutine (then the caller needs a Deferred) or another "
                    "method: convert the callers first or wrap by hand",
                )
