"""Decide, per function, what generators-to-async does with it.

Theory of operation: ``make_plan`` takes the raw facts of one module and a
preset, finds the coroutine functions (decorated with the preset's
decorator, matched alias-aware through the import table), and classifies
each as converted to ``async def``, kept a generator under
``@types.coroutine``, or refused. Refusals come from the function itself (a
``raise gen.Return`` under a broad ``except``, a yielded value it cannot
type, a returned value it cannot tell is awaitable, ...) and from how the
file uses it (a plain generator consumes it with ``yield from``; a Tornado
coroutine called outside a coroutine without being yielded). Those second
reasons depend on which other functions are converted, so classification
runs to a fixpoint (``_generators.classify``). Only then are node-level actions, keyed by ``id()`` of
the original nodes, emitted for the converted functions; a refused function
gets no action at all and so stays byte-identical (``_generators.emit``,
``_generators.actions``).
"""

from __future__ import annotations

import libcst as cst

from .actions import FuncAction, Plan
from .checks import ADAPTOR_NAME, Warning_, bad_input, decorator_calls
from .classify import PlanBuilder
from .emit import emit
from .facts import Facts
from .presets import Preset

__all__ = ["FuncAction", "Plan", "Warning_", "make_plan"]


def make_plan(
    facts: Facts,
    preset: Preset,
    hints: frozenset[str] = frozenset(),
    *,
    check_returns: bool = False,
    module: cst.Module | None = None,
    keep_api: bool = False,
) -> Plan:
    """Classify every coroutine function of the module and return the node actions.

    ``hints`` name decorators that run the generators they wrap as coroutines;
    ``check_returns`` turns a returned value that may be awaitable into a
    run-time test (awaited when awaitable) instead of a refusal; ``module``
    (the tree ``facts`` came from) is needed by presets with rules of their
    own (``return_calls``, ``wrapper``, ...); ``keep_api``: public functions
    keep returning what the decorated ones did (presets with a ``wrapper``).
    """
    planner = PlanBuilder(facts, preset, hints, check_returns, module, keep_api)
    planner.local_reasons()
    for _ in range(len(planner.cands) + 1):
        if not planner.usage_reasons():
            break
    plan = emit(planner)
    plan.warnings.extend(bad_input(facts, preset, planner.cands))
    if preset.name == "asyncio":
        _adapt_decorator_calls(plan, facts, preset)
    plan.dead_ifs = facts.dead_ifs
    _check_names(plan, facts, preset)
    if any(w.refusal for w in plan.warnings):
        plan.refuse_file()
    return plan


def _adapt_decorator_calls(plan: Plan, facts: Facts, preset: Preset) -> None:
    calls = decorator_calls(facts, preset)
    if not calls:
        return
    if facts.names[ADAPTOR_NAME] or not facts.imports.is_free_or(ADAPTOR_NAME, ADAPTOR_NAME):
        plan.warnings.append(
            Warning_(
                calls[0],
                f"asyncio.coroutine(...) used as a call; the name {ADAPTOR_NAME!r} its stand-in needs is taken: rename it first",
            )
        )
        return
    for call in calls:
        plan.calls[id(call)] = "as_coroutine"
        for binding in (facts.imports.head_binding(call.func),):
            if binding is not None:
                plan.removals.append(binding)
    plan.tops.update(f.top for f in facts.calls if f.node in calls)
    plan.needs.update(("functools", "inspect", "types"))
    plan.adaptor = True


def _check_names(plan: Plan, facts: Facts, preset: Preset) -> None:
    """Pick the local spelling of the runtime module, or refuse when its name is taken."""
    if "legacy" in plan.needs:
        local = facts.imports.local_name_for("legacy.runtime")
        if local is None:
            plan.runtime = "runtime"
            plan.needs.add("legacy.runtime")
        else:
            plan.runtime = local
    taken = [
        name
        for name, qual in (
            ("asyncio", "asyncio"),
            ("types", "types"),
            ("functools", "functools"),
            ("inspect", "inspect"),
            ("legacy.runtime", "legacy.runtime"),
        )
        if name in plan.needs and not facts.imports.is_free_or(name.rsplit(".", 1)[-1], qual)
    ]
    if taken:
        plan.refuse_file()
        plan.warnings.append(
            Warning_(
                facts.funcs[0].node if facts.funcs else cst.Module([]),
                f"the conversion needs the name {taken[0]!r}, which this module binds to something else; rename it first",
            )
        )
