"""Node actions for the functions ``PlanBuilder`` converts: what the transformer applies.

Run once classification is final: a refused function gets no action at all.
"""

from __future__ import annotations

import libcst as cst

from .actions import FuncAction, Plan
from .checks import Warning_
from .classify import PlanBuilder
from .facts import FuncFacts, call_key, callee_name
from .presets import LOOP_REMOVED
from .rules import iter_awaitable

__all__ = ["emit"]

_CURRENT_TASK = frozenset({"asyncio.Task.current_task", "asyncio.tasks.Task.current_task"})


def emit(b: PlanBuilder) -> Plan:
    """Write the node actions of every function ``b`` converts (or keeps a generator)."""
    plan = b.plan
    for func in b.cands:
        key = id(func.node)
        deco = func.node.decorators[b.deco[key]]
        binding = b.facts.imports.head_binding(deco.decorator)
        if key in b.refused:
            plan.warnings.append(b.refused[key])
            continue
        plan.tops.add(func.top)
        proto = b.protocol.get(key)
        if proto is not None:
            plan.funcs[key] = FuncAction(proto, b.deco[key])
            if proto == "types":
                plan.needs.add("types")
        elif key in b.kept:
            plan.warnings.append(b.kept[key])
            plan.funcs[key] = FuncAction("types", b.deco[key])
            plan.needs.add("types")
        else:
            plan.funcs[key] = FuncAction("async", b.deco[key])
            if func.node.asynchronous is None:
                b.classify_body(func, dry=False)
            _emit_raises(b, func)
            _emit_return_calls(b, func)
            plan.converted.append(func)
        if binding is not None:
            plan.removals.append(binding)
    plan.warnings.extend(b.helper_refusals)
    for key, func in b.helpers.items():
        plan.funcs[key] = FuncAction("async", None)
        plan.tops.add(func.top)
        b.classify_body(func, dry=False)
    _emit_delegation(b)
    if b.preset.eager:
        for call in b.facts.calls:
            if (call.key in b.by_key and not call.consumed and b.converting(call.scope)) and any(
                b.converting(f) for f in b.by_key[call.key]
            ):
                plan.calls[id(call.node)] = "ensure_future"
                plan.tops.add(call.top)
                plan.needs.add("asyncio")
    if b.preset.drop_loop_kwarg:
        _emit_loop_drops(b)
        for call in b.facts.calls:
            # ``Task.current_task()`` went in 3.9; ``asyncio.current_task()``
            # is the same call (same ``loop`` argument).
            if b.facts.imports.resolve(call.node.func) in _CURRENT_TASK:
                plan.calls[id(call.node)] = "current_task"
                plan.tops.add(call.top)
    return plan


def _emit_delegation(b: PlanBuilder) -> None:
    # ``yield from x`` in a plain generator implementing ``__await__``
    # breaks once x is a native coroutine: delegate through x.__await__().
    generators = {
        f.key
        for f in b.facts.funcs
        if f.yields
        and f.node.asynchronous is None
        and (
            (id(f.node) not in b.deco and id(f.node) not in b.helpers)
            or id(f.node) in b.kept
            or b.protocol.get(id(f.node)) == "types"
        )
    }
    for func in b.delegators:
        if id(func.node) in b.deco and b.protocol.get(id(func.node)) != "plain":
            continue
        if iter_awaitable(func, b.facts):
            b.plan.await_aliases.add(id(func.node))
            b.plan.tops.add(func.top)
        for node in func.yields:
            value = node.value
            if not isinstance(value, cst.From):
                continue
            item = value.item
            if isinstance(item, cst.Call) and (
                call_key(item) in generators or callee_name(item) == "__await__"
            ):
                continue
            b.plan.yields[id(node)] = ("delegate", "")
            b.plan.tops.add(func.top)


def _emit_raises(b: PlanBuilder, func: FuncFacts) -> None:
    for fact in b.facts.raises:
        if fact.scope is func and b.returns_of(fact.node):
            b.plan.raises.add(id(fact.node))
            exc = fact.node.exc
            target = exc.func if isinstance(exc, cst.Call) else exc
            if target is not None:
                binding = b.facts.imports.head_binding(target)
                if binding is not None:
                    b.plan.removals.append(binding)


def _emit_return_calls(b: PlanBuilder, func: FuncFacts) -> None:
    for rv in getattr(b, "return_values", ()):
        if rv.owner is func.node and rv.statement is not None:
            b.plan.return_calls.add(id(rv.statement))
            binding = b.facts.imports.head_binding(rv.call.func)
            if binding is not None:
                b.plan.removals.append(binding)


def _emit_loop_drops(b: PlanBuilder) -> None:
    for fact in b.facts.loop_calls:
        call = fact.node
        if b.facts.imports.resolve(call.func) not in LOOP_REMOVED:
            continue
        arg = next(a for a in call.args if a.keyword is not None and a.keyword.value == "loop")
        if isinstance(arg.value, cst.Name | cst.Attribute):
            b.plan.calls[id(call)] = "drop_loop"
            b.plan.tops.add(fact.top)
        else:
            b.plan.warnings.append(
                Warning_(
                    call,
                    f"loop= of {callee_name(call)}() was removed in Python 3.10, but its value may have side effects: remove it by hand",
                    refusal=False,
                )
            )
