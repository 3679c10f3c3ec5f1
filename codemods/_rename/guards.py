"""Spec guards: refuse a call whose context would change its meaning once renamed.

A rename is sound only when the target behaves like the source *in the way
the call is used*. Twisted's APIs show the typical gaps, and each guard is
a rule key in the spec (see ``codemods/specs/twisted.toml``):

- ``when``: what may be done with the call's value. ``task.deferLater``
  returns a ``Deferred`` (callbacks can be added); ``shims.sleep`` returns
  a coroutine, which is only the same thing as the operand of ``await``
  ("awaited"). ``reactor.callLater`` returns an ``IDelayedCall`` with
  ``active()``/``reset()``/``delay()``; the shim's handle only cancels, so
  only a call whose value is thrown away (or awaited) is converted ("unused").
  "gathered": only as an element of the list handed to a call that is
  itself converted to a gathering target (``gatherResults([ensureDeferred(
  c)])`` -> ``gather(*[spawn(c)])``): inside a Deferred-based gather it
  must stay a Deferred.
- ``conflicts``: names whose presence in the file means the file relies on
  what the target lacks: ``".locked"`` (an attribute read anywhere; a
  ``DeferredLock``'s ``locked`` is a bool, the shim lock's a method) or
  ``"defer.FirstError"`` (the source's own name: ``gatherResults`` wraps a
  failure in it, ``shims.gather`` raises the error itself). File-wide and
  name-based on purpose: an object's uses cannot be followed statically,
  so any use of such a name anywhere refuses the conversion.
- ``source_args``: a parameter that must be a reference to a source
  attribute; ``deferLater(clock, ...)`` is ``shims.sleep`` only when
  ``clock`` is the global reactor, not a test's ``task.Clock``.
- ``reject = ["**"]`` refuses any keyword argument (``callLater`` passes
  them on to the callable; ``shims.call_later`` takes none).
- ``elements``: what every element of the gathered list must be a call of.
  ``gatherResults`` takes Deferreds, ``shims.gather`` awaitables its backend
  runs (coroutines, tasks), and a Deferred is not one: only a list of
  ``defer.ensureDeferred(c)`` (which becomes ``shims.spawn(c)``), as a
  display or a comprehension, is converted.

References are resolved here by their file-level import only, which can
over-refuse (a local name shadowing the import) and never under-refuses.
"""

from __future__ import annotations

from collections.abc import Iterable

import libcst as cst

from .model import Ref, Scan, Scope, SourceBinding
from .reshape import plan_call
from .spec import Rule, Spec

__all__ = ["Guards", "attribute_names", "guard_attributes"]


def guard_attributes(spec: Spec) -> frozenset[str]:
    """Return the attribute names some rule's ``conflicts`` watch for (``.locked`` -> locked)."""
    return frozenset(
        c[1:] for rule in spec.rules.values() for c in rule.conflicts if c.startswith(".")
    )


def attribute_names(tree: cst.CSTNode, wanted: frozenset[str]) -> frozenset[str]:
    """Return which of ``wanted`` are read as ``x.<name>`` anywhere in ``tree``."""
    if not wanted:
        return frozenset()
    found: set[str] = set()

    class _Visitor(cst.CSTVisitor):
        def visit_Attribute(self, node: cst.Attribute) -> None:
            if node.attr.value in wanted:
                found.add(node.attr.value)

    tree.visit(_Visitor())
    return frozenset(found)


class Guards:
    """Check the guard keys of a rule against one module's scan."""

    def __init__(self, spec: Spec, scan: Scan, attributes: Iterable[str] = ()) -> None:
        self.spec = spec
        self.attributes = frozenset(attributes)
        self.full: dict[int, str] = {}  # id(ref node) -> the source name it denotes
        self.used: set[str] = set()  # spec keys referenced anywhere in the file
        self.calls: dict[int, Ref] = {}  # id(call) -> the reference it calls
        prefix = spec.source + "."
        for ref in scan.refs:
            if ref.call is not None:
                self.calls[id(ref.call)] = ref
            binds = scan.module_scope.imports.get(ref.parts[0]) or _any_scope(ref)
            for b in binds:
                full = ".".join((b.qual, *ref.parts[1:]))
                if full.startswith(prefix):
                    name = full[len(prefix) :]
                    self.full[id(ref.node)] = name
                    key = spec.key_for(name)
                    if key is not None:
                        self.used.add(key)

    def check(self, rule: Rule, ref: Ref, shown: str) -> str | None:
        """Return why the call ``ref`` names cannot be converted by ``rule``, or None."""
        call = ref.call
        assert call is not None
        if "**" in rule.reject:
            for a in call.args:
                if a.keyword is not None or a.star == "**":
                    return (
                        f"{shown}() with keyword arguments has no equivalent in "
                        f"{rule.target.expr}; left unchanged"
                    )
        if rule.when == "gathered":
            outer = self._gathering_call(ref)
            if outer is None:
                return f"{shown}() is converted only inside a converted gather's list: {rule.why}"
        elif rule.when is not None:
            parent = ref.trail[-3]
            awaited = isinstance(parent, cst.Await) and parent.expression is call
            discarded = isinstance(parent, cst.Expr)
            if not (awaited or (rule.when == "unused" and discarded)):
                use = "directly awaited" if rule.when == "awaited" else "discarded or awaited"
                return f"{shown}() is converted only when its value is {use}: {rule.why}"
        for item in rule.conflicts:
            if item.startswith("."):
                if item[1:] in self.attributes:
                    return (
                        f"this file reads an attribute {item!r}, which {shown}()'s value has "
                        f"and {rule.target.expr} lacks or spells differently; convert by hand"
                    )
            elif item in self.used:
                return (
                    f"this file uses {self.spec.source}.{item}, whose meaning {shown}() "
                    f"changes once it becomes {rule.target.expr}; convert by hand"
                )
        if rule.elements and not self._elements_ok(rule, call):
            names = " or ".join(f"{self.spec.source}.{e}(...)" for e in rule.elements)
            return (
                f"{shown}() is converted only when every element of its list is {names}, "
                f"which {rule.target.expr} can await: another element (a Deferred) is not; "
                "left unchanged"
            )
        if rule.source_args:
            return self._source_args(rule, call, shown)
        return None

    def _elements_ok(self, rule: Rule, call: cst.Call) -> bool:
        """Tell whether every element of the starred argument's list calls one of ``elements``."""
        star = next(a.removeprefix("*") for a in rule.args or () if a.startswith("*"))
        listed = _bind(rule, call).get(star)
        if isinstance(listed, cst.ListComp):
            items: list[cst.BaseExpression] = [listed.elt]
        elif isinstance(listed, cst.List | cst.Tuple):
            if any(isinstance(e, cst.StarredElement) for e in listed.elements):
                return False
            items = [e.value for e in listed.elements]
        else:
            return False
        for item in items:
            ref = self.calls.get(id(item)) if isinstance(item, cst.Call) else None
            name = self.full.get(id(ref.node)) if ref is not None else None
            if name is None or self.spec.key_for(name) not in rule.elements:
                return False
        return True

    def _gathering_call(self, ref: Ref) -> cst.Call | None:
        """Return the converted gathering call whose list holds ``ref``'s call, if any."""
        trail = ref.trail
        if (
            len(trail) >= 6
            and isinstance(trail[-3], cst.Element)
            and isinstance(trail[-4], cst.List | cst.Tuple)
        ):
            arg, outer = trail[-5], trail[-6]
        elif len(trail) >= 5 and isinstance(trail[-3], cst.ListComp) and trail[-3].elt is ref.call:
            arg, outer = trail[-4], trail[-5]
        else:
            return None
        outer_ref = self.calls.get(id(outer))
        if not isinstance(arg, cst.Arg) or outer_ref is None:
            return None
        name = self.full.get(id(outer_ref.node))
        key = self.spec.key_for(name) if name is not None else None
        rule = self.spec.rules.get(key) if key is not None else None
        if rule is None or not rule.args or not any(a.startswith("*") for a in rule.args):
            return None
        shown = f"{self.spec.source}.{key}"
        assert isinstance(outer, cst.Call)
        if self.check(rule, outer_ref, shown) is not None or isinstance(
            plan_call(rule, outer, shown), str
        ):
            return None
        return outer

    def dropped_args(self, rule: Rule, ref: Ref) -> list[cst.BaseExpression]:
        """Return the source-attribute arguments a converted call of ``rule`` drops."""
        if not rule.source_args or ref.call is None or rule.args is None:
            return []
        given = _bind(rule, ref.call)
        kept = {a.removeprefix("*") for a in rule.args}
        return [given[p] for p in rule.source_args if p in given and p not in kept]

    def _source_args(self, rule: Rule, call: cst.Call, shown: str) -> str | None:
        given = _bind(rule, call)
        for param, want in rule.source_args.items():
            value = given.get(param)
            if value is None or self.full.get(id(value)) != want:
                return (
                    f"{shown}() is converted only when {param} is "
                    f"{self.spec.source}.{want}: another {param} (a test clock?) "
                    "has a different meaning; left unchanged"
                )
        return None


def _bind(rule: Rule, call: cst.Call) -> dict[str, cst.BaseExpression]:
    """Return the argument passed for each fixed parameter of ``rule`` in ``call``."""
    assert rule.params is not None
    fixed = [p for p in rule.params if not p.startswith("*")]
    given: dict[str, cst.BaseExpression] = {}
    positional = [a for a in call.args if a.keyword is None and a.star == ""]
    for p, a in zip(fixed, positional, strict=False):
        given[p] = a.value
    for a in call.args:
        if a.keyword is not None:
            given[a.keyword.value] = a.value
    return given


def _any_scope(ref: Ref) -> list[SourceBinding]:
    scope: Scope | None = ref.scope
    while scope is not None:
        if ref.parts[0] in scope.imports:
            return scope.imports[ref.parts[0]]
        scope = scope.parent
    return []
