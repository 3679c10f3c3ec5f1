"""One read-only pass that gathers what the generators-to-async plan needs.

Theory of operation: the codemod decides per function, from how the
function is written and used in the file, so it first walks the whole
module once and records raw facts keyed by the original nodes: every
function with its own-scope ``yield``s, ``return``s and ``raise``s (a
``yield`` inside a nested ``def``, ``lambda`` or class belongs to that
scope), the ``try`` bodies enclosing each ``raise``, ``with (yield ...)``
statements, every call with whether its result is consumed (awaited,
yielded, gathered, handed to a runner or returned), ``yield from`` calls
(who consumes which coroutine as a generator), dead bare ``yield``
statements, the kinds of values assigned to local names, and the imports.
Nothing is resolved here: decorators and ``gen.Return`` are matched against
the import table only once it is complete, in ``_generators.plan``. The
record types live in ``_generators.fact_types`` (re-exported here).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import libcst as cst

from .._names import dotted_name
from .fact_types import CallFact, Facts, FuncFacts, RaiseFact, call_key, callee_name
from .import_table import ImportTable

__all__ = [
    "CallFact",
    "Facts",
    "FuncFacts",
    "RaiseFact",
    "call_key",
    "callee_name",
    "collect_facts",
]

# Calls whose arguments are awaited/scheduled by the callee, so a coroutine
# object passed to them runs (Tornado's gen.multi, asyncio.gather, runners).
_RUNNERS = frozenset(
    {
        "multi",
        "multi_future",
        "gather",
        "wait",
        "wait_for",
        "shield",
        "ensure_future",
        "create_task",
        "run",
        "run_until_complete",
        "run_sync",
        "convert_yielded",
        "spawn",
        "spawn_callback",
        "with_timeout",
        "as_completed",
        "wait_all",
    }
)


@dataclass
class _Frame:
    func: FuncFacts | None
    is_class: bool = False
    cls: cst.ClassDef | None = None
    tries: list[cst.Try | cst.TryStar] = field(default_factory=list)


def _is_bare_yield_stmt(stmt: cst.BaseSmallStatement) -> bool:
    return (
        isinstance(stmt, cst.Expr)
        and isinstance(stmt.value, cst.Yield)
        and stmt.value.value is None
    )


def _is_false(test: cst.BaseExpression) -> bool:
    if isinstance(test, cst.Name):
        return test.value == "False"
    return isinstance(test, cst.Integer) and test.value == "0"


class _Collector(cst.CSTVisitor):
    def __init__(self) -> None:
        super().__init__()
        self.facts = Facts(ImportTable(), [], [], [], [], set(), set(), {}, [], set())
        self.frames: list[_Frame] = []
        self.consumed: set[int] = set()
        self.returned: set[int] = set()
        self.attrs: set[int] = set()
        self.docstrings: set[int] = set()  # id() of docstring nodes: prose, never a reference
        self.run_args: set[int] = set()  # id() of values handed to a runner
        self.iterating: set[int] = set()  # id() of calls whose result is iterated as data
        self.top = 0  # id() of the module-level statement being walked

    def note_docstring(self, body: Sequence[cst.CSTNode]) -> None:
        first = body[0] if body else None
        if isinstance(first, cst.SimpleStatementLine) and isinstance(first.body[0], cst.Expr):
            value = first.body[0].value
            if isinstance(value, cst.SimpleString):
                self.docstrings.add(id(value))

    # -- scopes ---------------------------------------------------------------
    def _func(self) -> FuncFacts | None:
        return self.frames[-1].func if self.frames else None

    def visit_FunctionDef(self, node: cst.FunctionDef) -> None:
        if not self.frames:
            self.facts.imports.add_other_binding(node.name.value)
        self._bind_name(node.name.value, is_def=True)
        parent = next((f.func for f in reversed(self.frames) if f.func is not None), None)
        in_class = bool(self.frames) and self.frames[-1].is_class
        func = FuncFacts(node, parent, self.top, in_class)
        if in_class:
            func.cls = self.frames[-1].cls
        params = node.params
        for param in (*params.params, *params.kwonly_params, *params.posonly_params):
            func.kinds.setdefault(param.name.value, set()).add("param")
            func.locals.add(param.name.value)
        for star in (params.star_arg, params.star_kwarg):
            if isinstance(star, cst.Param):
                func.locals.add(star.name.value)
        self.facts.funcs.append(func)
        self.frames.append(_Frame(func))
        self.note_docstring(node.body.body)

    def leave_FunctionDef(self, original_node: cst.FunctionDef) -> None:
        self.frames.pop()

    def visit_Lambda(self, node: cst.Lambda) -> None:
        self.consumed.add(id(node.body))
        self.frames.append(_Frame(None))

    def leave_Lambda(self, original_node: cst.Lambda) -> None:
        self.frames.pop()

    def visit_ClassDef(self, node: cst.ClassDef) -> None:
        if not self.frames:
            self.facts.imports.add_other_binding(node.name.value)
        self._bind_name(node.name.value)
        self.facts.members[id(node)] = set()
        self.facts.classes.add(node.name.value)
        self.frames.append(_Frame(None, is_class=True, cls=node))
        self.note_docstring(node.body.body)

    def leave_ClassDef(self, original_node: cst.ClassDef) -> None:
        self.frames.pop()

    def visit_Try_body(self, node: cst.Try) -> None:
        if self.frames:
            self.frames[-1].tries.append(node)

    def leave_Try_body(self, node: cst.Try) -> None:
        if self.frames:
            self.frames[-1].tries.pop()

    def visit_TryStar_body(self, node: cst.TryStar) -> None:
        if self.frames:
            self.frames[-1].tries.append(node)

    def leave_TryStar_body(self, node: cst.TryStar) -> None:
        if self.frames:
            self.frames[-1].tries.pop()

    # -- bindings -------------------------------------------------------------
    def _bind_name(self, name: str, *, is_def: bool = False) -> None:
        """Record a binding of ``name`` in the innermost scope (class or function).

        A nested ``def`` is not recorded as a local: calls of it still reach
        a function of this file (by name, as module-level ones do).
        """
        if not self.frames:
            return
        frame = self.frames[-1]
        if frame.is_class and frame.cls is not None:
            self.facts.members[id(frame.cls)].add(name)
        elif frame.func is not None and not is_def:
            frame.func.locals.add(name)

    def _bind_target(self, target: cst.BaseExpression) -> None:
        if isinstance(target, cst.Name):
            self._bind_name(target.value)
        elif isinstance(target, cst.Tuple | cst.List):
            for element in target.elements:
                self._bind_target(element.value)
        elif isinstance(target, cst.StarredElement):
            self._bind_target(target.value)

    def visit_Import(self, node: cst.Import) -> bool:
        if self.frames:
            for alias in node.names:
                self._bind_name(alias.evaluated_alias or alias.evaluated_name.split(".")[0])
        self.facts.imports.add_import(node)
        return False

    def visit_ImportFrom(self, node: cst.ImportFrom) -> bool:
        if self.frames and not isinstance(node.names, cst.ImportStar):
            for alias in node.names:
                self._bind_name(alias.evaluated_alias or alias.evaluated_name)
        self.facts.imports.add_import(node)
        return False

    def visit_AugAssign(self, node: cst.AugAssign) -> None:
        self._bind_target(node.target)

    def visit_For(self, node: cst.For) -> None:
        self._bind_target(node.target)
        self._iterate(node.iter)

    def visit_CompFor(self, node: cst.CompFor) -> None:
        self._bind_target(node.target)
        self._iterate(node.iter)

    def visit_AsName(self, node: cst.AsName) -> None:
        if isinstance(node.name, cst.BaseExpression):
            self._bind_target(node.name)

    def visit_NamedExpr(self, node: cst.NamedExpr) -> None:
        self._bind_target(node.target)

    def _iterate(self, value: cst.BaseExpression) -> None:
        if isinstance(value, cst.Call):
            self.iterating.add(id(value))

    def visit_Attribute(self, node: cst.Attribute) -> None:
        self.attrs.add(id(node.attr))

    def visit_SimpleString(self, node: cst.SimpleString) -> None:
        if id(node) not in self.docstrings:
            self.facts.strings.append(node.value)

    def visit_Name(self, node: cst.Name) -> None:
        if id(node) not in self.attrs:
            self.facts.names[node.value] += 1

    def visit_Assign(self, node: cst.Assign) -> None:
        func = self._func()
        callee = node.value.func if isinstance(node.value, cst.Call) else None
        for target in node.targets:
            self._bind_target(target.target)
            dotted = dotted_name(target.target)
            if dotted is not None and dotted.startswith("self.") and dotted.count(".") == 1:
                self.facts.attr_assigned.setdefault(dotted, []).append(callee)
            if not isinstance(target.target, cst.Name):
                continue
            name = target.target.value
            if not self.frames:
                self.facts.imports.add_other_binding(name)
            elif func is not None and not self.frames[-1].is_class:
                func.kinds.setdefault(name, set()).add(_kind_of(node.value))
                func.assigned.setdefault(name, []).append(callee)

    def visit_AnnAssign(self, node: cst.AnnAssign) -> None:
        self._bind_target(node.target)
        if not self.frames and isinstance(node.target, cst.Name):
            self.facts.imports.add_other_binding(node.target.value)

    # -- statements -----------------------------------------------------------
    def visit_IndentedBlock(self, node: cst.IndentedBlock) -> None:
        dead = False
        for stmt in node.body:
            if not isinstance(stmt, cst.SimpleStatementLine):
                if dead:
                    self._mark_dead(stmt)
                continue
            for small in stmt.body:
                if dead and _is_bare_yield_stmt(small):
                    self.facts.dead_stmts.add(id(small))
                if isinstance(small, cst.Return | cst.Raise | cst.Continue | cst.Break):
                    dead = True

    def _mark_dead(self, stmt: cst.BaseStatement) -> None:
        if isinstance(stmt, cst.If) and isinstance(stmt.body, cst.IndentedBlock):
            self._mark_dead_block(stmt.body)

    def _mark_dead_block(self, block: cst.IndentedBlock) -> None:
        for line in block.body:
            if isinstance(line, cst.SimpleStatementLine):
                for small in line.body:
                    if _is_bare_yield_stmt(small):
                        self.facts.dead_stmts.add(id(small))

    def visit_If(self, node: cst.If) -> None:
        if not _is_false(node.test) or not isinstance(node.body, cst.IndentedBlock):
            return
        self._mark_dead_block(node.body)
        only_yields = all(
            isinstance(line, cst.SimpleStatementLine)
            and all(_is_bare_yield_stmt(s) or isinstance(s, cst.Pass) for s in line.body)
            for line in node.body.body
        )
        if only_yields and node.orelse is None:
            self.facts.dead_ifs.add(id(node))

    def visit_Expr(self, node: cst.Expr) -> None:
        if isinstance(node.value, cst.Yield):
            self.facts.yield_stmt[id(node.value)] = node

    def visit_Return(self, node: cst.Return) -> None:
        func = self._func()
        if func is not None:
            func.returns.append(node)
        if node.value is not None:
            self.returned.add(id(node.value))

    def visit_Raise(self, node: cst.Raise) -> None:
        if node.exc is not None and self.frames:
            frame = self.frames[-1]
            self.facts.raises.append(RaiseFact(node, frame.func, tuple(frame.tries)))

    def visit_With(self, node: cst.With) -> None:
        func = self._func()
        yield_items = [i for i in node.items if isinstance(i.item, cst.Yield)]
        if yield_items and func is not None:
            func.withs.append(node)
            self.facts.with_items.update(id(i.item) for i in yield_items)

    # -- expressions ----------------------------------------------------------
    def visit_Yield(self, node: cst.Yield) -> None:
        func = self._func()
        if func is not None:
            func.yields.append(node)
        value = node.value
        if isinstance(value, cst.From):
            self.consumed.add(id(value.item))
            if isinstance(value.item, cst.Call):
                key = call_key(value.item)
                if key is not None and not (func is not None and func.binds(key)):
                    self.facts.yield_from_calls.append((key, func, node))
        elif value is not None:
            self._consume(value)

    def visit_Await(self, node: cst.Await) -> None:
        self.consumed.add(id(node.expression))

    def _consume(self, value: cst.BaseExpression) -> None:
        self.consumed.add(id(value))
        if isinstance(value, (cst.List | cst.Tuple, cst.Dict)):
            self.consumed.update(id(e.value) for e in value.elements)
        elif isinstance(value, cst.ListComp):
            self.consumed.add(id(value.elt))
        elif isinstance(value, cst.DictComp):
            self.consumed.add(id(value.value))

    def visit_Call(self, node: cst.Call) -> None:
        name = callee_name(node)
        if name in _RUNNERS:
            for arg in node.args:
                self._consume(arg.value)
                self.run_args.add(id(arg.value))
        elif isinstance(node.func, cst.Name) and node.func.value in _DATA_CONSUMERS:
            for arg in node.args:
                self._iterate(arg.value)
        func = self._func()
        if func is not None and name in ("append", "extend", "insert"):
            target = node.func.value if isinstance(node.func, cst.Attribute) else None
            if isinstance(target, cst.Name):
                func.kinds.setdefault(target.value, set()).add("list")
        key = call_key(node)
        if key is not None and func is not None and func.binds(key):
            key = None  # a parameter or local of that name, not the module's function
        fact = CallFact(
            node,
            key,
            name,
            func,
            id(node) in self.consumed,
            id(node) in self.returned,
            self.top,
            id(node) in self.run_args,
        )
        if any(a.keyword is not None and a.keyword.value == "loop" for a in node.args):
            self.facts.loop_calls.append(fact)
        self.facts.calls.append(fact)
        if id(node) in self.iterating:
            self.facts.iterated.append(fact)


# Builtins whose argument is iterated as data (a generator there is not a coroutine).
_DATA_CONSUMERS = frozenset(
    {"list", "tuple", "set", "dict", "sorted", "sum", "min", "max", "any", "all", "next",
     "iter", "enumerate", "zip", "map", "filter", "reversed", "frozenset"}
)  # fmt: skip


def _kind_of(value: cst.BaseExpression) -> str:
    if isinstance(value, cst.List | cst.ListComp):
        return "list"
    if isinstance(value, cst.Dict | cst.DictComp):
        return "dict"
    if (
        isinstance(value, cst.Call)
        and isinstance(value.func, cst.Name)
        and value.func.value in ("list", "dict")
    ):
        return value.func.value
    return "other"


def collect_facts(module: cst.Module) -> Facts:
    """Walk ``module`` once and return its facts (nodes are the module's own)."""
    collector = _Collector()
    collector.note_docstring(module.body)
    for statement in module.body:
        collector.top = id(statement)
        statement.visit(collector)
    return collector.facts
