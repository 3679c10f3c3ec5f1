"""One pass over a libcst tree: imports of the source module, scopes, references.

Theory of operation: libcst's ScopeProvider/QualifiedNameProvider answer
"what does this name refer to?" for every name in the file and cost many
times a parse. We need that answer only for the few names an import of the
source module binds, so this walker follows the tree's expression and
statement fields (never whitespace), records every binding per scope (that is
all Python's scoping needs: a name bound anywhere in a function is local to
it), and records a reference only when its root name is one of those import
bindings. Resolution happens afterwards, once every scope is complete, so a
binding later in a function still shadows an earlier use.

Every node the walk passes through is on ``stack``; a reference keeps that
path so the rewrite can revisit just the ancestors of what changes.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Literal

import libcst as cst
from libcst.helpers import get_full_name_for_node

from .._names import chain, import_bindings
from .model import Ref, Scan, Scope, ScopeKind, SourceBinding

_SKIP_PREFIXES = (
    "whitespace",
    "lpar",
    "rpar",
    "comma",
    "semicolon",
    "leading_lines",
    "trailing_whitespace",
    "header",
    "footer",
    "lbracket",
    "rbracket",
    "lbrace",
    "rbrace",
    "operator",
    "equal",
    "colon",
    "dot",
    "asynchronous",
    "newline",
    "indent",
    "first_line",
    "lines_after_decorators",
)
_FIELDS: dict[type[cst.CSTNode], tuple[str, ...]] = {}
_DYNAMIC = frozenset({"getattr", "hasattr", "setattr", "delattr", "vars", "dir"})


def _fields(tp: type[cst.CSTNode]) -> tuple[str, ...]:
    names = _FIELDS.get(tp)
    if names is None:
        names = tuple(
            f.name for f in dataclasses.fields(tp) if not f.name.startswith(_SKIP_PREFIXES)
        )
        _FIELDS[tp] = names
    return names


class _Restart(Exception):
    pass


class Scanner:
    """Walk a module once and return a :class:`Scan` for ``source``."""

    def __init__(self, source: str) -> None:
        self.source = source
        self.root = source.split(".")[0]

    def related(self, dotted: str) -> bool:
        """Return True if ``dotted`` is the source module, inside it, or a package of it."""
        s = self.source
        return dotted == s or dotted.startswith(s + ".") or s.startswith(dotted + ".")

    def scan(self, module: cst.Module) -> Scan:
        """Return the bindings and references of ``module``; see the module docstring."""
        interesting = self._top_level_names(module.body)
        while True:
            self._interesting = interesting
            try:
                return self._run(module)
            except _Restart:
                interesting = self._interesting

    # -- setup -------------------------------------------------------------

    def _top_level_names(self, body: Any) -> set[str]:
        found: set[str] = set()
        for stmt in body:
            if isinstance(stmt, cst.SimpleStatementLine):
                for small in stmt.body:
                    if isinstance(small, cst.Import | cst.ImportFrom):
                        found.update(b[0] for b in self._import_names(small))
            elif isinstance(stmt, cst.If | cst.Try | cst.With | cst.For | cst.While):
                for block in (
                    stmt.body,
                    getattr(stmt, "orelse", None),
                    *getattr(stmt, "handlers", ()),
                    getattr(stmt, "finalbody", None),
                ):
                    inner = getattr(block, "body", None)
                    if isinstance(inner, cst.BaseSuite):
                        inner = getattr(inner, "body", ())
                    if isinstance(inner, list | tuple):
                        found |= self._top_level_names(inner)
        return found

    def _import_names(
        self, node: cst.Import | cst.ImportFrom
    ) -> list[tuple[str, str, str, cst.ImportAlias]]:
        """Return (local, qual, path, alias) for each related binding of ``node``."""
        return [
            (name.local, name.qualname, name.module, name.alias)
            for name in import_bindings(node)
            if self.related(name.qualname)
        ]

    def _run(self, module: cst.Module) -> Scan:
        self.scope = Scope("module", None)
        self.out = Scan(self.scope)
        self.stack: list[cst.CSTNode] = []
        self.store = False
        self._walk(module)
        return self.out

    # -- bookkeeping ---------------------------------------------------------

    def _bind(self, name: str, what: str = "other") -> None:
        scope = self.scope
        if scope.kind == "comprehension" and what == "walrus":
            while scope.kind == "comprehension" and scope.parent is not None:
                scope = scope.parent
        scope.bound[name] = scope.bound.get(name, 0) + 1
        self.out.names.add(name)
        self.out.other_bound.setdefault(name, set()).add(what)

    def _ref(
        self,
        parts: tuple[str, ...],
        node: cst.Name | cst.Attribute,
        trail: tuple[cst.CSTNode, ...],
        call: cst.Call | None = None,
        ctx: Literal["load", "store", "dynamic"] = "load",
    ) -> None:
        self.out.names.add(parts[0])
        if parts[0] in self._interesting:
            self.out.refs.append(Ref(parts, node, self.scope, trail, call, ctx))

    # -- the walk ------------------------------------------------------------

    def _walk(self, node: cst.CSTNode) -> None:
        self.stack.append(node)
        handler = _HANDLERS.get(type(node))
        if handler is not None:
            handler(self, node)
        else:
            self._children(node)
        self.stack.pop()

    def _children(self, node: cst.CSTNode) -> None:
        for name in _fields(type(node)):
            value = getattr(node, name)
            if isinstance(value, cst.CSTNode):
                self._walk(value)
            elif type(value) in (tuple, list):
                for child in value:
                    if isinstance(child, cst.CSTNode):
                        self._walk(child)

    def _load(self, node: cst.CSTNode | None) -> None:
        if node is None:
            return
        saved, self.store = self.store, False
        self._walk(node)
        self.store = saved

    def _target(self, node: cst.CSTNode | None) -> None:
        if node is None:
            return
        saved, self.store = self.store, True
        self._walk(node)
        self.store = saved

    def _in_scope(self, kind: ScopeKind, body: list[cst.CSTNode], names: list[str]) -> None:
        outer = self.scope
        self.scope = Scope(kind, outer)
        for n in names:
            self._bind(n, "param")
        for part in body:
            self._walk(part)
        self.scope = outer

    def _params(self, params: cst.Parameters) -> list[str]:
        self.stack.append(params)
        names = []
        every = [*params.posonly_params, *params.params, *params.kwonly_params]
        for extra in (params.star_arg, params.star_kwarg):
            if isinstance(extra, cst.Param):
                every.append(extra)
        for p in every:
            self.stack.append(p)
            names.append(p.name.value)
            if p.annotation is not None:
                self._load(p.annotation)
            self._load(p.default)
            self.stack.pop()
        self.stack.pop()
        return names

    # -- handlers ------------------------------------------------------------

    def _name(self, node: cst.Name) -> None:
        if self.store:
            self._bind(node.value)
        else:
            self._ref((node.value,), node, tuple(self.stack))

    def _attribute(self, node: cst.Attribute) -> None:
        parts = chain(node)
        if parts is None:
            self._load(node.value)
        else:
            self._ref(parts, node, tuple(self.stack), ctx="store" if self.store else "load")

    def _subscript(self, node: cst.Subscript) -> None:
        saved, self.store = self.store, False
        self._children(node)
        self.store = saved

    def _call(self, node: cst.Call) -> None:
        saved, self.store = self.store, False
        parts = chain(node.func)
        if parts is None:
            self._walk(node.func)
        else:
            assert isinstance(node.func, cst.Name | cst.Attribute)
            self._ref(parts, node.func, (*self.stack, node.func), call=node)
        dynamic = parts is not None and len(parts) == 1 and parts[0] in _DYNAMIC
        for i, arg in enumerate(node.args):
            if dynamic and i == 0 and isinstance(arg.value, cst.Name | cst.Attribute):
                inner = chain(arg.value)
                if inner is not None:
                    self._ref(inner, arg.value, (*self.stack, arg, arg.value), ctx="dynamic")
                    continue
            self._walk(arg)
        self.store = saved

    def _arg(self, node: cst.Arg) -> None:
        self._walk(node.value)

    def _function(self, node: cst.FunctionDef) -> None:
        for d in node.decorators:
            self._load(d)
        names = self._params(node.params)
        if node.returns is not None:
            self._load(node.returns)
        self._bind(node.name.value, "def")
        self._in_scope("function", [node.body], names)

    def _lambda(self, node: cst.Lambda) -> None:
        names = self._params(node.params)
        self._in_scope("function", [node.body], names)

    def _class(self, node: cst.ClassDef) -> None:
        for d in node.decorators:
            self._load(d)
        for a in (*node.bases, *node.keywords):
            self._load(a)
        self._bind(node.name.value, "class")
        self._in_scope("class", [node.body], [])

    def _comprehension(self, node: Any) -> None:
        comp: cst.CompFor = node.for_in
        self.stack.append(comp)
        self._load(comp.iter)
        self.stack.pop()
        outer = self.scope
        self.scope = Scope("comprehension", outer)
        first = True
        cur: cst.CompFor | None = comp
        depth = 0
        while cur is not None:
            if not first:
                self.stack.append(cur)
                depth += 1
                self._load(cur.iter)
            else:
                self.stack.append(cur)
                depth += 1
            first = False
            self._target(cur.target)
            for cond in cur.ifs:
                self._load(cond)
            cur = cur.inner_for_in
        for _ in range(depth):
            self.stack.pop()
        for name in ("elt", "key", "value"):
            part = getattr(node, name, None)
            if part is not None:
                self._load(part)
        self.scope = outer

    def _assign(self, node: cst.Assign) -> None:
        for t in node.targets:
            self.stack.append(t)
            self._target(t.target)
            self.stack.pop()
            if (
                self.scope.kind == "module"
                and isinstance(t.target, cst.Name)
                and t.target.value == "__all__"
            ):
                self.out.has_all = True
        self._load(node.value)

    def _ann_assign(self, node: cst.AnnAssign) -> None:
        self._target(node.target)
        self._load(node.annotation)
        self._load(node.value)

    def _aug_assign(self, node: cst.AugAssign) -> None:
        self._target(node.target)
        self._load(node.value)

    def _for(self, node: cst.For) -> None:
        self._target(node.target)
        self._load(node.iter)
        self._load(node.body)
        self._load(node.orelse)

    def _as_name(self, node: cst.AsName) -> None:
        self._target(node.name)

    def _with_item(self, node: cst.WithItem) -> None:
        self._load(node.item)
        if node.asname is not None:
            self._walk(node.asname)

    def _named(self, node: cst.NamedExpr) -> None:
        if isinstance(node.target, cst.Name):
            self._bind(node.target.value, "walrus")
        self._load(node.value)

    def _del(self, node: cst.Del) -> None:
        self._target(node.target)

    def _global(self, node: cst.Global) -> None:
        self.scope.globals.update(n.name.value for n in node.names)

    def _nonlocal(self, node: cst.Nonlocal) -> None:
        self.scope.nonlocals.update(n.name.value for n in node.names)

    def _import(self, node: cst.Import | cst.ImportFrom) -> None:
        related = self._import_names(node)
        mine = {id(r[3]) for r in related}
        trail = tuple(self.stack)
        for local, qual, path, alias in related:
            if local not in self._interesting:
                self._interesting = self._interesting | {local}
                if local in self.out.names:
                    raise _Restart
            b = SourceBinding(local, qual, path, alias, node, self.scope, trail)
            self.scope.imports.setdefault(local, []).append(b)
            self.out.bindings.append(b)
            self.out.names.add(local)
        if isinstance(node, cst.ImportFrom) and isinstance(node.names, cst.ImportStar):
            base = get_full_name_for_node(node.module) if node.module else None
            if not node.relative and base and self.related(base):
                self.out.stars.append(node)
            return
        top = self.scope.kind == "module" and len(self.stack) <= 3
        names = node.names if isinstance(node.names, list | tuple) else ()
        for alias in names:
            if id(alias) in mine:
                continue
            dotted = get_full_name_for_node(alias.name) or ""
            if isinstance(node, cst.Import):
                local = _asname(alias) if alias.asname else dotted.split(".")[0]
                self._bind(local, f"import {dotted}" if not alias.asname else "other")
                if top:
                    self.out.top_imports.add(("import", dotted, local))
            else:
                local = _asname(alias) if alias.asname else dotted
                self._bind(local)
                if top and not node.relative and node.module is not None:
                    base = get_full_name_for_node(node.module) or ""
                    self.out.top_imports.add(("from", base, dotted, local))

    def _annotation(self, node: cst.Annotation) -> None:
        if isinstance(node.annotation, cst.SimpleString):
            self.out.string_annotations.append(node.annotation)
        else:
            self._load(node.annotation)

    def _match_as(self, node: Any) -> None:
        if getattr(node, "pattern", None) is not None:
            self._walk(node.pattern)
        if node.name is not None:
            self._bind(node.name.value)

    def _match_mapping(self, node: cst.MatchMapping) -> None:
        for el in node.elements:
            self._walk(el)
        if node.rest is not None:
            self._bind(node.rest.value)

    def _match_keyword(self, node: cst.MatchKeywordElement) -> None:
        self._walk(node.pattern)


def _asname(alias: cst.ImportAlias) -> str:
    assert alias.asname is not None and isinstance(alias.asname.name, cst.Name)
    return alias.asname.name.value


_HANDLERS: dict[type[cst.CSTNode], Any] = {
    cst.Name: Scanner._name,
    cst.Attribute: Scanner._attribute,
    cst.Subscript: Scanner._subscript,
    cst.Call: Scanner._call,
    cst.Arg: Scanner._arg,
    cst.FunctionDef: Scanner._function,
    cst.Lambda: Scanner._lambda,
    cst.ClassDef: Scanner._class,
    cst.ListComp: Scanner._comprehension,
    cst.SetComp: Scanner._comprehension,
    cst.GeneratorExp: Scanner._comprehension,
    cst.DictComp: Scanner._comprehension,
    cst.Assign: Scanner._assign,
    cst.AnnAssign: Scanner._ann_assign,
    cst.AugAssign: Scanner._aug_assign,
    cst.For: Scanner._for,
    cst.AsName: Scanner._as_name,
    cst.WithItem: Scanner._with_item,
    cst.NamedExpr: Scanner._named,
    cst.Del: Scanner._del,
    cst.Global: Scanner._global,
    cst.Nonlocal: Scanner._nonlocal,
    cst.Import: Scanner._import,
    cst.ImportFrom: Scanner._import,
    cst.Annotation: Scanner._annotation,
    cst.MatchAs: Scanner._match_as,
    cst.MatchStar: Scanner._match_as,
    cst.MatchMapping: Scanner._match_mapping,
    cst.MatchKeywordElement: Scanner._match_keyword,
}
