"""Decide, for every reference the scan found, whether and how it is rewritten.

Per reference: resolve it to the import binding it denotes (skipping class
scopes for nested functions, honouring global/nonlocal), refuse when the name
is also rebound, classify the attribute against the spec, and plan the new
expression. Per binding: choose the new local name. Per import statement:
drop the aliases no longer used and put the needed imports in its place, so
comments and position are kept; nothing is removed that a kept reference
still needs, and nothing is added that the module already imports.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import libcst as cst

from .guards import Guards
from .import_edits import ImportKey, edit_statement
from .model import Ref, Scan, Scope, SourceBinding
from .reshape import CallRewrite, plan_call
from .service import plan_service, then
from .spec import BUILTINS, Rule, Spec

Build = Callable[[Any], Any]


@dataclass(eq=False)
class _Conv:
    ref: Ref
    binding: SourceBinding
    rule: Rule
    node: cst.Name | cst.Attribute  # the part of the chain that denotes source.attr
    trail: tuple[cst.CSTNode, ...]
    plan: CallRewrite | None
    member: bool  # bound by ``from source import attr``


@dataclass(eq=False)
class _BindingState:
    convs: list[_Conv] = field(default_factory=list)
    kept: int = 0
    local: str | None = None  # member bindings: the new local name
    needs: list[ImportKey] = field(default_factory=list)


class ModulePlanner:
    """Plan the rewrite of one module; results in ``replace``, ``ancestors``, ``warnings``.

    ``service``: the service name that calls of rules with a ``service``
    keyword get (None: they get none).
    """

    def __init__(
        self,
        spec: Spec,
        scan: Scan,
        service: str | None = None,
        attributes: frozenset[str] = frozenset(),
    ) -> None:
        self.spec = spec
        self.guards = Guards(spec, scan, attributes)
        self.service = service
        self.scan = scan
        self.source = spec.source
        self.replace: dict[int, Build] = {}
        self.ancestors: set[int] = set()
        self.warnings: list[tuple[cst.CSTNode, str]] = []
        self.state: dict[int, _BindingState] = {}
        self._module_refs: dict[str, tuple[str, bool] | None] = {}
        self._kept_refs: dict[int, SourceBinding] = {}  # id(ref node) -> binding it keeps
        self._released: set[int] = set()  # bindings whose only uses were dropped arguments

    # -- driver ------------------------------------------------------------------

    def plan(self) -> None:
        """Fill ``replace``, ``ancestors`` and ``warnings``."""
        for star in self.scan.stars:
            self.warnings.append(
                (
                    star,
                    f"'from ... import *' of {self.source} hides which names "
                    "come from it; import them by name and run again",
                )
            )
        for b in self.scan.bindings:
            self.state[id(b)] = _BindingState()
        bound = {b.name for b in self.scan.bindings}
        for text in self.scan.string_annotations:
            words = set(re.findall(r"[A-Za-z_][\w.]*", text.value))
            used = {w.split(".")[0] for w in words} & bound
            if used:
                self._keep([b for b in self.scan.bindings if b.name in used])
                self._warn(
                    text,
                    f"string annotation {text.value} may name {self.source}; update it by hand",
                )
        convs = [c for ref in self.scan.refs if (c := self._classify(ref)) is not None]
        self._choose_locals()
        for conv in convs:
            if conv in self.state[id(conv.binding)].convs:
                self._rewrite(conv)
        for conv in convs:  # a dropped source argument (deferLater's reactor) keeps no import
            if conv not in self.state[id(conv.binding)].convs:
                continue
            for node in self.guards.dropped_args(conv.rule, conv.ref):
                binding = self._kept_refs.pop(id(node), None)
                if binding is not None:
                    self.state[id(binding)].kept -= 1
                    self._released.add(id(binding))
        self._edit_imports()

    def _warn(self, node: cst.CSTNode, text: str) -> None:
        self.warnings.append((node, text))

    def _register(self, trail: Sequence[cst.CSTNode], build: Build) -> None:
        self.ancestors.update(id(n) for n in trail[:-1])
        self.replace[id(trail[-1])] = build

    # -- resolution ----------------------------------------------------------------

    def _resolve(self, name: str, scope: Scope) -> Scope | None:
        s: Scope | None = scope
        first = True
        while s is not None:
            if s.kind == "class" and not first:
                s = s.parent
                continue
            first = False
            if name in s.globals:
                return self.scan.module_scope if self._binds(self.scan.module_scope, name) else None
            if name not in s.nonlocals and self._binds(s, name):
                return s
            s = s.parent
        return None

    @staticmethod
    def _binds(scope: Scope, name: str) -> bool:
        return name in scope.bound or name in scope.imports

    def _classify(self, ref: Ref) -> _Conv | None:
        name = ref.parts[0]
        scope = self._resolve(name, ref.scope)
        if scope is None:
            return None
        binds = scope.imports.get(name, [])
        if not binds:
            top = self.scan.module_scope.imports.get(name)
            if top and scope is not self.scan.module_scope and self._would_convert(ref, top[0]):
                self._warn(
                    ref.node,
                    f"{name!r} here is a local name that shadows the import "
                    f"of {top[0].qual}; left unchanged",
                )
            return None
        if name in scope.bound or len({b.qual for b in binds}) > 1:
            self._keep(binds)
            self._warn(
                ref.node,
                f"{name!r} is bound both by an import of {binds[0].qual} and "
                "by something else in the same scope; left unchanged",
            )
            return None
        binding = self._pick(binds, ref)
        qual = binding.qual
        full = ".".join((qual, *ref.parts[1:]))
        src = self.source
        if not full.startswith(src + "."):
            self.state[id(binding)].kept += 1
            if full == src:
                if ref.ctx == "dynamic":
                    self._warn(
                        ref.node,
                        f"dynamic attribute access on {src} cannot be "
                        "rewritten; use the names directly",
                    )
                else:
                    self._warn(
                        ref.node,
                        f"{src} is used as a value (passed, stored or "
                        "returned); its uses cannot be followed, rewrite by hand",
                    )
            return None
        attr = self.spec.key_for(full[len(src) + 1 :]) or full[len(src) + 1 :].split(".")[0]
        rule = self.spec.rules.get(attr)
        # chain parts naming src.attr (attr may be dotted: ``defer.gatherResults``)
        depth = len(src.split(".")) + 1 + len(attr.split(".")) - len(qual.split("."))
        if rule is not None and depth < 1:
            rule = None  # imported from below the rule's name: nothing to rename in place
        if rule is None:
            self.state[id(binding)].kept += 1
            self._kept_refs[id(ref.node)] = binding
            if attr in self.spec.refuse:
                self._warn(ref.node, f"{src}.{attr} is not converted: {self.spec.refuse[attr]}")
            elif attr not in self.spec.keep:
                self._warn(
                    ref.node, f"{src}.{attr} is not in the spec {self.spec.path}; left unchanged"
                )
            return None
        node: cst.BaseExpression = ref.node
        trail = ref.trail
        for _ in range(len(ref.parts) - depth):
            assert isinstance(node, cst.Attribute)
            node = node.value
            trail = (*trail, node)
        assert isinstance(node, cst.Name | cst.Attribute)
        shown = f"{src}.{attr}"
        reason = None
        plan: CallRewrite | str | None = None
        called = ref.call is not None and node is ref.node
        if ref.ctx == "store":
            reason = f"assignment to {shown} (monkeypatching?) is left unchanged"
        elif ref.ctx == "dynamic" or (rule.call_only and not called):
            reason = (
                f"{shown} is used without being called; {_target_text(rule)} takes "
                "different arguments, so rewrite this use by hand"
            )
        elif called and rule.discarded and isinstance(ref.trail[-3], cst.Expr):
            reason = f"the result of {shown}() is discarded: {rule.discarded}"
        elif called and (guard := self.guards.check(rule, ref, shown)) is not None:
            reason = guard
        elif called and (
            rule.reshapes
            or rule.keywords
            or rule.require
            or rule.reject
            or rule.positional is not None
        ):
            assert ref.call is not None
            plan = plan_call(rule, ref.call, shown)
            if isinstance(plan, str):
                reason, plan = plan, None
        if (
            reason is None
            and rule.target.module == BUILTINS
            and rule.target.expr in self.scan.other_bound
        ):
            reason = (
                f"{rule.target.expr!r} is rebound in this file, so {shown} cannot "
                "become the builtin; left unchanged"
            )
        if reason is not None:
            self.state[id(binding)].kept += 1
            self._warn(ref.node, reason)
            return None
        assert not isinstance(plan, str)
        if rule.service is not None and self.service is not None:
            add = plan_service(rule, ref.call if called else None, shown, self.service)
            if isinstance(add, str):
                self._warn(ref.node, add)
            elif add is not None:
                plan = then(plan, add)
        member = qual == f"{src}.{attr}"
        conv = _Conv(ref, binding, rule, node, trail, plan, member)
        self.state[id(binding)].convs.append(conv)
        return conv

    def _pick(self, binds: list[SourceBinding], ref: Ref) -> SourceBinding:
        """Return the binding a reference needs most (the import of the longest path)."""
        full = ".".join((binds[0].qual, *ref.parts[1:]))
        best = [b for b in binds if full == b.path or full.startswith(b.path + ".")]
        return max(best or binds, key=lambda b: len(b.path))

    def _keep(self, binds: list[SourceBinding]) -> None:
        for b in binds:
            self.state[id(b)].kept += 1

    def _would_convert(self, ref: Ref, binding: SourceBinding) -> bool:
        """Return True if ``ref`` would be rewritten were it not shadowed."""
        full = ".".join((binding.qual, *ref.parts[1:]))
        prefix = self.source + "."
        attr = (self.spec.key_for(full[len(prefix) :]) or "") if full.startswith(prefix) else ""
        rule = self.spec.rules.get(attr)
        if rule is None:
            return False
        same_name = (
            binding.qual == prefix + attr
            and rule.target.simple
            and rule.target.module != BUILTINS
            and rule.target.expr == binding.name
        )
        # ``from source import sleep`` -> ``from target import sleep``: uses keep their name
        adds_service = rule.service is not None and self.service is not None
        return not same_name or rule.call_only or bool(rule.keywords) or adds_service

    # -- names ---------------------------------------------------------------------

    def _module_ref(self, module: str) -> tuple[str, bool] | None:
        """Return (expression naming ``module``, whether an import is needed), or None."""
        if module in self._module_refs:
            return self._module_refs[module]
        answer: tuple[str, bool] | None = None
        for key in self.scan.top_imports:
            if key[0] == "import" and key[1] == module:
                answer = (module if key[2] == module.split(".")[0] else key[2], False)
                break
        else:
            root = module.split(".")[0]
            kinds = self.scan.other_bound.get(root, set())
            clash = any(not k.startswith(f"import {root}") for k in kinds)
            if not clash and not any(
                b.name == root and root != self.source.split(".")[0] for b in self.scan.bindings
            ):
                answer = (module, True)
        self._module_refs[module] = answer
        return answer

    def _free(self, name: str) -> bool:
        return name not in self.scan.names

    def _choose_locals(self) -> None:
        for b in self.scan.bindings:
            st = self.state[id(b)]
            members = [
                c
                for c in st.convs
                if c.member and c.rule.target.simple and c.rule.target.module != BUILTINS
            ]
            if not members:
                continue
            target = members[0].rule.target
            t, attr = target.expr, b.qual.rsplit(".", 1)[1]
            existing = ("from", target.module, t, t) in self.scan.top_imports
            if st.kept:
                local = t if (self._free(t) or existing) and t != b.name else None
            elif b.name != attr or t == b.name:
                local = b.name
            elif (self._free(t) or existing) and not self.scan.has_all:
                local = t
            else:
                local = b.name
            if local is None:
                for c in members:
                    st.convs.remove(c)
                    st.kept += 1
                    self._warn(
                        c.ref.node,
                        f"cannot import {target.module}.{t} next to the "
                        f"remaining {b.qual} import: the name {t!r} is taken; "
                        "left unchanged",
                    )
                continue
            st.local = local
            st.needs.append(("from", target.module, t, local))

    # -- rewriting -------------------------------------------------------------------

    def _rewrite(self, conv: _Conv) -> None:
        rule, st = conv.rule, self.state[id(conv.binding)]
        target = rule.target
        new: cst.BaseExpression | None
        if target.module == BUILTINS:
            new = cst.Name(target.expr)
        elif conv.member and target.simple:
            assert st.local is not None
            new = None if st.local == conv.ref.parts[0] else cst.Name(st.local)
        else:
            where = self._module_ref(target.module)
            if where is None:
                st.kept += 1
                st.convs.remove(conv)
                self._warn(
                    conv.ref.node,
                    f"the name {target.module.split('.')[0]!r} is used for "
                    f"something else in this file, so {self.source}."
                    f"{rule.name} cannot become {_target_text(rule)}; "
                    "left unchanged",
                )
                return
            prefix, needed = where
            if needed:
                st.needs.append(("import", target.module))
            new = cst.parse_expression(f"{prefix}.{target.expr}")
        if new is not None:
            old = conv.node
            replacement: cst.CSTNode = new.with_changes(lpar=old.lpar, rpar=old.rpar)
            self._register(conv.trail, _constant(replacement))
        if conv.plan is not None and conv.ref.call is not None:
            call_trail = conv.ref.trail[:-1]
            assert call_trail[-1] is conv.ref.call
            self._register(call_trail, conv.plan)

    def _edit_imports(self) -> None:
        by_stmt: dict[int, list[SourceBinding]] = {}
        for b in self.scan.bindings:
            by_stmt.setdefault(id(b.stmt), []).append(b)
        module_added: set[ImportKey] = set()
        scope_added: set[tuple[int, ImportKey]] = set()
        for binds in by_stmt.values():
            states = [self.state[id(b)] for b in binds]
            released = [id(b) in self._released for b in binds]
            if not any(st.convs for st in states) and not any(released):
                continue
            drop = {
                id(b.alias)
                for b, st, gone in zip(binds, states, released, strict=True)
                if (st.convs or gone) and not st.kept
            }
            needs: list[ImportKey] = []
            scope = binds[0].scope
            for st in states:
                for key in st.needs:
                    if self._already(key) or key in module_added or (id(scope), key) in scope_added:
                        continue
                    if scope is self.scan.module_scope:
                        module_added.add(key)
                    scope_added.add((id(scope), key))
                    needs.append(key)
            alias_key = {
                id(b.alias): key
                for b, st in zip(binds, states, strict=True)
                if id(b.alias) in drop
                for key in st.needs
                if key[0] == "from" and key in needs
            }
            edit = edit_statement(binds[0].stmt, binds[0].trail, drop, needs, alias_key)
            if edit is not None:
                self._register(*edit)

    def _already(self, key: ImportKey) -> bool:
        if key[0] == "import":
            return any(k[0] == "import" and k[1] == key[1] for k in self.scan.top_imports)
        return key in self.scan.top_imports


def _constant(node: cst.CSTNode) -> Build:
    def build(_updated: Any) -> cst.CSTNode:
        return node

    return build


def _target_text(rule: Rule) -> str:
    t = rule.target
    return t.expr if t.module == BUILTINS else f"{t.module}.{t.expr}"
