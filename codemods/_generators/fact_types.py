"""The facts ``collect_facts`` records about one module, and how a call names its callee.

Plain data keyed by the original nodes (``FuncFacts`` per ``def``,
``RaiseFact``, ``CallFact``, ``Facts`` for the module), read by the plan,
the rules and the twisted preset; nothing here walks a tree.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

import libcst as cst

from .import_table import ImportTable

__all__ = ["CallFact", "Facts", "FuncFacts", "RaiseFact", "call_key", "callee_name"]


def callee_name(call: cst.Call) -> str | None:
    """Return the simple name a call targets: ``f`` for ``f()`` and ``obj.f()``."""
    func = call.func
    if isinstance(func, cst.Name):
        return func.value
    if isinstance(func, cst.Attribute):
        return func.attr.value
    return None


def call_key(call: cst.Call) -> str | None:
    """Return who a call surely targets: ``f`` for ``f()``, ``.f`` for ``self.f()``/``cls.f()``.

    ``obj.f()`` on any other receiver returns None: a coroutine method
    ``f`` somewhere in the file says nothing about ``obj``.
    """
    func = call.func
    if isinstance(func, cst.Name):
        return func.value
    if (
        isinstance(func, cst.Attribute)
        and isinstance(func.value, cst.Name)
        and func.value.value in ("self", "cls")
    ):
        return "." + func.attr.value
    return None


@dataclass(eq=False)
class FuncFacts:
    """What one ``def`` contains in its own scope."""

    node: cst.FunctionDef
    parent: FuncFacts | None
    top: int
    in_class: bool
    yields: list[cst.Yield] = field(default_factory=list)
    returns: list[cst.Return] = field(default_factory=list)
    withs: list[cst.With] = field(default_factory=list)
    kinds: dict[str, set[str]] = field(default_factory=dict)
    # Every name this scope binds (parameters, assignments, loop and with
    # targets, nested defs, local imports): such a name is not the module's.
    locals: set[str] = field(default_factory=set)
    # name -> callee of each ``name = callee(...)`` (None: anything else)
    assigned: dict[str, list[cst.BaseExpression | None]] = field(default_factory=dict)
    cls: cst.ClassDef | None = None

    def binds(self, name: str) -> bool:
        """Tell whether ``name`` is bound in this scope or an enclosing function."""
        scope: FuncFacts | None = self
        while scope is not None:
            if name in scope.locals:
                return True
            scope = scope.parent
        return False

    @property
    def name(self) -> str:
        """The function's name."""
        return self.node.name.value

    @property
    def key(self) -> str:
        """How calls reach it: ``name``, or ``.name`` for a method (see ``call_key``)."""
        return "." + self.name if self.in_class else self.name


@dataclass(frozen=True, eq=False)
class RaiseFact:
    """A ``raise X`` and the ``try`` statements whose body encloses it."""

    node: cst.Raise
    scope: FuncFacts | None
    tries: tuple[cst.Try | cst.TryStar, ...]


@dataclass(frozen=True, eq=False)
class CallFact:
    """A call, its scope, and whether its result is consumed right there."""

    node: cst.Call
    key: str | None
    name: str | None
    scope: FuncFacts | None
    consumed: bool
    returned: bool
    top: int
    run: bool = False  # handed to a runner (ensure_future, run_until_complete, ...)


@dataclass
class Facts:
    """Everything ``collect_facts`` found in one module."""

    imports: ImportTable
    funcs: list[FuncFacts]
    raises: list[RaiseFact]
    calls: list[CallFact]
    # (call_key of the callee, scope, the yield) of ``yield from f()``
    yield_from_calls: list[tuple[str, FuncFacts | None, cst.Yield]]
    dead_stmts: set[int]
    dead_ifs: set[int]
    yield_stmt: dict[int, cst.Expr]
    loop_calls: list[CallFact]
    with_items: set[int]
    # Loads/stores of each bare name (attribute names and imports excluded):
    # an upper bound of the references an import binding has.
    names: Counter[str] = field(default_factory=Counter)
    strings: list[str] = field(default_factory=list)
    # "self.x" -> callee of each ``self.x = callee(...)`` anywhere (None: other)
    attr_assigned: dict[str, list[cst.BaseExpression | None]] = field(default_factory=dict)
    # names each class body defines (methods and assignments), by id() of the class
    members: dict[int, set[str]] = field(default_factory=dict)
    classes: set[str] = field(default_factory=set)  # names of the classes the file defines
    # ``for x in f()``, ``list(f())``, ``next(f())``...: f's result used as data
    iterated: list[CallFact] = field(default_factory=list)
