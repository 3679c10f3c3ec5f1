"""Who uses a converted function, and which uses no rewrite can keep working.

Theory of operation: calling an ``@inlineCallbacks`` function returns a
``Deferred``; once it is an ``async def`` the call returns a coroutine. A
call the codemod can attribute to the converted function (``f()``,
``self.f()``/``cls.f()``, ``x.f()`` where ``x = C(...)`` in the same
function and ``C`` is a class of the file: ``Instances``) is either awaited
or wrapped in ``defer.ensureDeferred`` (``_generators.deferred``). What it cannot
attribute is refused here (``use_reasons``):

- the function passed as a value (``d.addCallback(self.f)``): whoever calls
  it later gets a coroutine and never runs it. ``maybeDeferred(f)``,
  ``task.react(f)`` and a trial test case's ``self.addCleanup(f)`` (run
  through ``maybeDeferred``) accept a coroutine function and are allowed;
- the function handed to a generator consumer (``task.cooperate``).

``x.f()`` on a receiver that is none of the above, not yielded, may be the
converted method (the caller needs a Deferred) or another one: it is
wrapped in a helper that turns a coroutine into a Deferred and hands any
other result back unchanged (``_generators.deferred``), right in both cases.
A function that keeps returning a Deferred (``_generators.keep``) needs
none of this.
"""

from __future__ import annotations

from collections.abc import Iterator

import libcst as cst

from .facts import Facts, FuncFacts, call_key

__all__ = ["Instances", "our_key", "use_reasons"]

# trial's TestCase classes: their addCleanup() runs a cleanup through
# maybeDeferred, which accepts a coroutine function.
_TRIAL_CASES = frozenset(
    {"twisted.trial.unittest.TestCase", "twisted.trial.unittest.SynchronousTestCase"}
)
# Callables that accept a coroutine function in place of a Deferred-returning one.
_ACCEPT_COROUTINE_FUNCTIONS = frozenset(
    {"twisted.internet.defer.maybeDeferred", "twisted.internet.task.react"}
)


class Instances(cst.CSTVisitor):
    """Find ``x.m()`` calls where ``x = C(...)`` in the same function and ``C`` is a class here.

    ``keys`` maps id() of each such call to ``.m`` (the key of method ``m``
    of a class of this module): the receiver is surely an instance of ours.
    """

    def __init__(self, module: cst.Module) -> None:
        super().__init__()
        self.classes: dict[str, set[str]] = {}
        for stmt in module.body:
            if isinstance(stmt, cst.ClassDef) and isinstance(stmt.body, cst.IndentedBlock):
                self.classes[stmt.name.value] = {
                    f.name.value for f in stmt.body.body if isinstance(f, cst.FunctionDef)
                }
        self.scopes: list[dict[str, str]] = [{}]
        self.keys: dict[int, str] = {}
        module.visit(self)

    def visit_FunctionDef(self, node: cst.FunctionDef) -> None:
        self.scopes.append({})

    def leave_FunctionDef(self, original_node: cst.FunctionDef) -> None:
        self.scopes.pop()

    def visit_Assign(self, node: cst.Assign) -> None:
        value = node.value
        made = (
            value.func.value
            if isinstance(value, cst.Call) and isinstance(value.func, cst.Name)
            else None
        )
        for target in node.targets:
            if not isinstance(target.target, cst.Name):
                continue
            name = target.target.value
            if made in self.classes and len(node.targets) == 1:
                self.scopes[-1][name] = made
            else:
                self.scopes[-1].pop(name, None)

    def visit_Call(self, node: cst.Call) -> None:
        func = node.func
        if isinstance(func, cst.Attribute) and isinstance(func.value, cst.Name):
            cls = self.scopes[-1].get(func.value.value)
            if cls is not None and func.attr.value in self.classes[cls]:
                self.keys[id(node)] = "." + func.attr.value


def our_key(call: cst.Call, instances: Instances) -> str | None:
    """Return the key of the function of ours ``call`` surely targets (see ``call_key``)."""
    return call_key(call) or instances.keys.get(id(call))


class _Uses(cst.CSTVisitor):
    """Record how each candidate's name is used: called (and how) or passed as a value."""

    def __init__(self, names: set[str], facts: Facts) -> None:
        super().__init__()
        self.names = names
        self.facts = facts
        self.trial: list[bool] = []  # per enclosing class: is it a trial TestCase?
        self.cleanups: set[int] = set()  # id() of arguments of a trial self.addCleanup()
        self.callees: set[int] = set()
        self.decorators: set[int] = set()
        self.values: list[tuple[str, cst.CSTNode]] = []
        self.args_of: dict[int, cst.Call] = {}

    def visit_Decorator(self, node: cst.Decorator) -> None:
        self.decorators.add(id(node.decorator))

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


def use_reasons(
    module: cst.Module,
    facts: Facts,
    by_key: dict[str, list[FuncFacts]],
    consumers: frozenset[str],
    keeps: frozenset[int] = frozenset(),
) -> Iterator[tuple[FuncFacts, cst.CSTNode, str]]:
    """Yield (candidate, node, reason) for every use of a candidate no rewrite keeps working.

    ``keeps``: ids of the candidates that keep returning a Deferred; passing
    one as a value is fine.
    """
    names = {key.lstrip(".") for key in by_key}
    uses = _Uses(names, facts)
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
            if id(func.node) in keeps:
                continue
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
