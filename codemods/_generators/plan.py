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
runs to a fixpoint. Only then are node-level actions, keyed by ``id()`` of
the original nodes, emitted for the converted functions; a refused function
gets no action at all and so stays byte-identical.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import libcst as cst

from .checks import ADAPTOR_NAME, Warning_, bad_input, decorator_calls, protocol_action
from .facts import Facts, FuncFacts, call_key, callee_name
from .import_table import Binding
from .keep import keeps_deferred
from .presets import Preset
from .rules import delegates, helper_generators, hinted_generators, iter_awaitable
from .yields import Refuse, classify_return, classify_with, classify_yield

__all__ = ["FuncAction", "Plan", "Warning_", "make_plan"]


@dataclass(frozen=True)
class FuncAction:
    """What happens to one ``def`` and which decorator goes (None: none).

    ``async``: becomes ``async def``; ``types``: stays a generator under
    ``@types.coroutine``; ``plain``: stays a plain ``def``.
    """

    kind: str
    decorator: int | None


@dataclass
class Plan:
    """Node-level actions for the transformer, keyed by ``id()`` of original nodes."""

    funcs: dict[int, FuncAction] = field(default_factory=dict)
    yields: dict[int, tuple[str, str]] = field(default_factory=dict)
    remove: set[int] = field(default_factory=set)
    raises: set[int] = field(default_factory=set)
    return_await: set[int] = field(default_factory=set)
    return_check: set[int] = field(default_factory=set)  # await it if it is awaitable
    calls: dict[int, str] = field(default_factory=dict)
    withs: set[int] = field(default_factory=set)
    needs: set[str] = field(default_factory=set)
    removals: list[Binding] = field(default_factory=list)
    warnings: list[Warning_] = field(default_factory=list)
    runtime: str = "asyncio"
    dead_ifs: set[int] = field(default_factory=set)
    # id() of ``returnValue(x)`` statements (preset.return_calls) -> ``return x``
    return_calls: set[int] = field(default_factory=set)
    # every function that becomes ``async def``
    converted: list[FuncFacts] = field(default_factory=list)
    # id() of the converted functions that keep returning a Deferred (``_generators.keep``)
    keeps: set[int] = field(default_factory=set)
    # id() of the module-level statements holding an action; the others are
    # not walked by the transformer at all.
    tops: set[int] = field(default_factory=set)
    adaptor: bool = False  # add the stand-in for asyncio.coroutine(fn) calls
    await_aliases: set[int] = field(
        default_factory=set
    )  # __iter__ defs that get __await__ = __iter__

    def empty(self) -> bool:
        """Tell whether the plan changes nothing."""
        return not (self.funcs or self.calls or self.yields or self.await_aliases)

    def refuse_file(self) -> None:
        """Drop every action: a refusal anywhere leaves the file byte-identical."""
        self.funcs.clear()
        self.calls.clear()
        self.yields.clear()
        self.await_aliases.clear()
        self.adaptor = False
        self.warnings = [w for w in self.warnings if w.refusal]


def _decorator_index(func: FuncFacts, facts: Facts, preset: Preset) -> int | None:
    for index, deco in enumerate(func.node.decorators):
        if facts.imports.resolve(deco.decorator) in preset.decorators:
            return index
    return None


def _broad(
    handler: cst.ExceptHandler | cst.ExceptStarHandler, facts: Facts, preset: Preset
) -> bool:
    kind = handler.type
    if kind is None:
        return True
    kinds = [e.value for e in kind.elements] if isinstance(kind, cst.Tuple) else [kind]
    for k in kinds:
        if isinstance(k, cst.Name) and k.value in ("Exception", "BaseException"):
            return True
        if facts.imports.resolve(k) in preset.returns:
            return True
    return False


class _PlanBuilder:
    def __init__(
        self,
        facts: Facts,
        preset: Preset,
        hints: frozenset[str],
        check_returns: bool,
        module: cst.Module | None = None,
        keep_api: bool = False,
    ) -> None:
        self.check_returns = check_returns
        self.module = module
        self.facts = facts
        self.preset = preset
        self.plan = Plan()
        self.deco: dict[int, int] = {}
        for func in facts.funcs:
            index = _decorator_index(func, facts, preset)
            if index is not None:
                self.deco[id(func.node)] = index
        self.cands = [f for f in facts.funcs if id(f.node) in self.deco]
        self.by_key: dict[str, list[FuncFacts]] = {}
        for func in self.cands:
            self.by_key.setdefault(func.key, []).append(func)
        self.plan.keeps = keeps_deferred(self.cands, preset, keep_api)
        self.refused: dict[int, Warning_] = {}
        self.kept: dict[int, Warning_] = {}
        # Protocol methods: "types" (keep the generator) or "plain" (drop the decorator).
        self.protocol: dict[int, str] = {}
        self.helpers: dict[int, FuncFacts] = {}
        self.delegators: list[FuncFacts] = []
        if preset.name == "asyncio":
            self.helpers = helper_generators(facts, self.deco)
            self.helpers.update(hinted_generators(facts, self.deco, hints))
            self.delegators = [
                f
                for f in facts.funcs
                if f.node.asynchronous is None
                and f.yields
                and delegates(f, facts)
                # under @types.coroutine (say) it may already yield from coroutines
                and (not f.node.decorators or id(f.node) in self.deco)
            ]
        self.helper_refusals: list[Warning_] = []
        delegator_ids = {id(f.node) for f in self.delegators}
        self.no_kept = delegator_ids | set(self.helpers)

    def returns_of(self, raise_node: cst.Raise) -> bool:
        exc = raise_node.exc
        target = exc.func if isinstance(exc, cst.Call) else exc
        return target is not None and self.facts.imports.resolve(target) in self.preset.returns

    def refuse(self, func: FuncFacts, warning: Warning_) -> None:
        self.refused.setdefault(id(func.node), warning)

    def converting(self, func: FuncFacts | None) -> bool:
        if func is None or id(func.node) not in self.deco:
            return False
        key = id(func.node)
        return key not in self.refused and key not in self.kept

    def local_reasons(self) -> None:
        helpers: dict[str, cst.Raise] = {}
        for fact in self.facts.raises:
            if not self.returns_of(fact.node):
                continue
            scope = fact.scope
            if scope is not None and id(scope.node) in self.deco:
                handlers = [h for t in fact.tries for h in t.handlers]
                if any(_broad(h, self.facts, self.preset) for h in handlers):
                    self.refuse(
                        scope,
                        Warning_(
                            fact.node,
                            "raise gen.Return(...) inside a try whose broad except would catch it; as a return it would not: rewrite that except clause first",
                        ),
                    )
                continue
            outer = scope.parent if scope is not None else None
            while outer is not None and id(outer.node) not in self.deco:
                outer = outer.parent
            if outer is not None:
                helper = repr(scope.name) if scope is not None else "lambda"
                self.refuse(
                    outer,
                    Warning_(
                        fact.node,
                        f"raise gen.Return(...) in nested helper {helper} ends the enclosing coroutine; an async def cannot be ended from a helper: return a value from the helper instead",
                    ),
                )
            elif scope is not None:
                helpers[scope.key] = fact.node
        for call in self.facts.calls:
            if call.key in helpers and call.scope is not None and id(call.scope.node) in self.deco:
                self.refuse(
                    call.scope,
                    Warning_(
                        call.node,
                        f"{call.key.lstrip('.')}() raises gen.Return to end this coroutine (line {{0}}); make it return a value instead",
                        (helpers[call.key],),
                    ),
                )
        self._plain_generator_delegation()
        self._preset_reasons()
        for gen_id, generator in list(self.helpers.items()):
            try:
                self.classify_body(generator, dry=True)
            except Refuse as refusal:
                del self.helpers[gen_id]
                self.helper_refusals.append(Warning_(refusal.node, refusal.reason))
        for func in self.cands:
            action = protocol_action(func, self.facts)
            if action is not None:
                self.protocol[id(func.node)] = action
                continue
            if func.node.asynchronous is not None:
                continue
            try:
                self.classify_body(func, dry=True)
            except Refuse as refusal:
                self.refuse(func, Warning_(refusal.node, refusal.reason))

    def _preset_reasons(self) -> None:
        """Refusals of the rules a preset adds as data (``return_calls``, ``wrapper``, ...)."""
        preset = self.preset
        if self.module is None or not (
            preset.return_calls or preset.passthrough or preset.wrapper or preset.callbacks
        ):
            return
        from .twisted import find_return_values, twisted_reasons

        self.return_values = find_return_values(self.module, self.facts, preset.return_calls)
        for func, node, text in twisted_reasons(
            self.module,
            self.facts,
            self.cands,
            self.return_values,
            preset,
            frozenset(self.facts.dead_stmts),
            frozenset(self.plan.keeps),
        ):
            self.refuse(func, Warning_(node, text))

    def _plain_generator_delegation(self) -> None:
        # ``yield from helper()`` where helper is an undecorated generator of
        # this file delegated its yields to the runtime; ``await helper()``
        # raises TypeError (a generator is not awaitable).
        plain = {
            f.key: f
            for f in self.facts.funcs
            if id(f.node) not in self.deco
            and id(f.node) not in self.helpers
            and f.node.asynchronous is None
            and f.yields
        }
        for key, scope, node in self.facts.yield_from_calls:
            if scope is None or id(scope.node) not in self.deco:
                continue
            if key in plain and key not in self.by_key:
                name = key.lstrip(".")
                self.refuse(
                    scope,
                    Warning_(
                        node,
                        f"yield from {name}() delegates to the plain generator {name!r} (line {{0}}); await cannot: make {name!r} a coroutine too (decorate it), then run the codemod again",
                        (plain[key].node,),
                    ),
                )

    def usage_reasons(self) -> bool:
        changed = False
        for key, scope, node in self.facts.yield_from_calls:
            if key not in self.by_key or self.converting(scope):
                continue
            if scope is not None and (
                id(scope.node) in self.kept or id(scope.node) in self.no_kept
            ):
                continue  # @types.coroutine generators may yield from native coroutines
            if scope is not None and self.protocol.get(id(scope.node)) == "types":
                continue
            name = key.lstrip(".")
            for func in self.by_key[key]:
                if not self.converting(func):
                    continue
                changed = True
                where = (
                    "a plain generator"
                    if scope is None or id(scope.node) not in self.deco
                    else "a coroutine left as a generator"
                )
                if scope is not None and scope.name in ("__iter__", "__await__"):
                    where = f"{scope.name}"
                else:
                    where += f" {scope.name!r}" if scope is not None else " at module level"
                if self.preset.keep_generator_with is not None:
                    self.kept[id(func.node)] = Warning_(
                        func.node.decorators[self.deco[id(func.node)]],
                        f"kept {name!r} a generator with @{self.preset.keep_generator_with}: {where} consumes it with yield from (line {{0}})",
                        (node,),
                        refusal=False,
                    )
                else:
                    self.refuse(
                        func,
                        Warning_(
                            func.node.decorators[self.deco[id(func.node)]],
                            f"{name!r} is consumed with yield from by {where} (line {{0}}); an async def cannot be: convert that consumer first",
                            (node,),
                        ),
                    )
        if not self.preset.eager:
            return changed
        for call in self.facts.calls:
            # Only ``f()`` and ``self.f()`` surely reach ours (``cfg.read()`` does not).
            if call.key not in self.by_key or call.consumed or self.converting(call.scope):
                continue
            if call.returned:
                continue
            scope = call.scope
            if scope is None:
                where = "at module level"
            elif id(scope.node) in self.deco:
                where = f"in the coroutine {scope.name!r}, which is not converted"
            else:
                where = f"in the plain function {scope.name!r}"
            for func in self.by_key[call.key]:
                if self.converting(func):
                    changed = True
                    self.refuse(
                        func,
                        Warning_(
                            func.node.decorators[self.deco[id(func.node)]],
                            f"{func.name}() is called without yield {where} (line {{0}}); Tornado started it at once, an async def would never run: schedule it with IOLoop.spawn_callback or convert the caller first",
                            (call.node,),
                        ),
                    )
        return changed

    def classify_body(self, func: FuncFacts, *, dry: bool) -> None:
        plan = self.plan
        generator = bool(func.yields)
        lock_items: set[int] = set()
        for with_node in func.withs:
            if classify_with(with_node, func, self.facts, self.preset):
                lock_items.update(id(item.item) for item in with_node.items)
                if not dry:
                    plan.withs.add(id(with_node))
        for node in func.yields:
            if id(node) in lock_items:
                continue
            action = classify_yield(node, func, self.facts, self.preset)
            if not dry:
                if action[0] == "remove":
                    plan.remove.add(id(self.facts.yield_stmt[id(node)]))
                else:
                    plan.yields[id(node)] = action
                self._note_needs(action[0], node)
        if not generator and self.preset.awaits_returned:
            coroutines = set(self.by_key) | {f.key for f in self.helpers.values()}
            for ret in func.returns:
                try:
                    awaited = classify_return(ret, func, self.facts, coroutines)
                except Refuse:
                    if not self.check_returns:
                        raise
                    if not dry:  # the user chose asyncio.coroutine's own run-time test
                        plan.return_check.add(id(ret))
                        plan.needs.add("inspect")
                        plan.warnings.append(Warning_(ret, _CHECKED, refusal=False))
                    continue
                if awaited and not dry:
                    plan.return_await.add(id(ret))

    def _note_needs(self, kind: str, node: cst.Yield) -> None:
        if kind in ("tornado_sleep", "wrap_future"):
            self.plan.needs.add("asyncio")
        elif kind not in ("await", "remove"):
            self.plan.needs.add(self.preset.runtime)
        value = node.value
        converted = kind in ("tornado_sleep", "sleep0") or kind.startswith("gather")
        if converted and isinstance(value, cst.Call | cst.Attribute | cst.Name):
            target = value.func if isinstance(value, cst.Call) else value
            binding = self.facts.imports.head_binding(target)
            if binding is not None:
                self.plan.removals.append(binding)

    def emit(self) -> Plan:
        plan = self.plan
        for func in self.cands:
            key = id(func.node)
            deco = func.node.decorators[self.deco[key]]
            binding = self.facts.imports.head_binding(deco.decorator)
            if key in self.refused:
                plan.warnings.append(self.refused[key])
                continue
            plan.tops.add(func.top)
            proto = self.protocol.get(key)
            if proto is not None:
                plan.funcs[key] = FuncAction(proto, self.deco[key])
                if proto == "types":
                    plan.needs.add("types")
            elif key in self.kept:
                plan.warnings.append(self.kept[key])
                plan.funcs[key] = FuncAction("types", self.deco[key])
                plan.needs.add("types")
            else:
                plan.funcs[key] = FuncAction("async", self.deco[key])
                if func.node.asynchronous is None:
                    self.classify_body(func, dry=False)
                self._emit_raises(func)
                self._emit_return_calls(func)
                plan.converted.append(func)
            if binding is not None:
                plan.removals.append(binding)
        plan.warnings.extend(self.helper_refusals)
        for key, func in self.helpers.items():
            plan.funcs[key] = FuncAction("async", None)
            plan.tops.add(func.top)
            self.classify_body(func, dry=False)
        self._emit_delegation()
        if self.preset.eager:
            for call in self.facts.calls:
                if (
                    call.key in self.by_key and not call.consumed and self.converting(call.scope)
                ) and any(self.converting(f) for f in self.by_key[call.key]):
                    plan.calls[id(call.node)] = "ensure_future"
                    plan.tops.add(call.top)
                    plan.needs.add("asyncio")
        if self.preset.drop_loop_kwarg:
            self._emit_loop_drops()
            for call in self.facts.calls:
                # ``Task.current_task()`` went in 3.9; ``asyncio.current_task()``
                # is the same call (same ``loop`` argument).
                if self.facts.imports.resolve(call.node.func) in _CURRENT_TASK:
                    plan.calls[id(call.node)] = "current_task"
                    plan.tops.add(call.top)
        return plan

    def _emit_delegation(self) -> None:
        # ``yield from x`` in a plain generator implementing ``__await__``
        # breaks once x is a native coroutine: delegate through x.__await__().
        generators = {
            f.key
            for f in self.facts.funcs
            if f.yields
            and f.node.asynchronous is None
            and (
                (id(f.node) not in self.deco and id(f.node) not in self.helpers)
                or id(f.node) in self.kept
                or self.protocol.get(id(f.node)) == "types"
            )
        }
        for func in self.delegators:
            if id(func.node) in self.deco and self.protocol.get(id(func.node)) != "plain":
                continue
            if iter_awaitable(func, self.facts):
                self.plan.await_aliases.add(id(func.node))
                self.plan.tops.add(func.top)
            for node in func.yields:
                value = node.value
                if not isinstance(value, cst.From):
                    continue
                item = value.item
                if isinstance(item, cst.Call) and (
                    call_key(item) in generators or callee_name(item) == "__await__"
                ):
                    continue
                self.plan.yields[id(node)] = ("delegate", "")
                self.plan.tops.add(func.top)

    def _emit_raises(self, func: FuncFacts) -> None:
        for fact in self.facts.raises:
            if fact.scope is func and self.returns_of(fact.node):
                self.plan.raises.add(id(fact.node))
                exc = fact.node.exc
                target = exc.func if isinstance(exc, cst.Call) else exc
                if target is not None:
                    binding = self.facts.imports.head_binding(target)
                    if binding is not None:
                        self.plan.removals.append(binding)

    def _emit_return_calls(self, func: FuncFacts) -> None:
        for rv in getattr(self, "return_values", ()):
            if rv.owner is func.node and rv.statement is not None:
                self.plan.return_calls.add(id(rv.statement))
                binding = self.facts.imports.head_binding(rv.call.func)
                if binding is not None:
                    self.plan.removals.append(binding)

    def _emit_loop_drops(self) -> None:
        from .presets import LOOP_REMOVED

        for fact in self.facts.loop_calls:
            call = fact.node
            if self.facts.imports.resolve(call.func) not in LOOP_REMOVED:
                continue
            arg = next(a for a in call.args if a.keyword is not None and a.keyword.value == "loop")
            if isinstance(arg.value, cst.Name | cst.Attribute):
                self.plan.calls[id(call)] = "drop_loop"
                self.plan.tops.add(fact.top)
            else:
                self.plan.warnings.append(
                    Warning_(
                        call,
                        f"loop= of {callee_name(call)}() was removed in Python 3.10, but its value may have side effects: remove it by hand",
                        refusal=False,
                    )
                )


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
    planner = _PlanBuilder(facts, preset, hints, check_returns, module, keep_api)
    planner.local_reasons()
    for _ in range(len(planner.cands) + 1):
        if not planner.usage_reasons():
            break
    plan = planner.emit()
    plan.warnings.extend(bad_input(facts, preset, planner.cands))
    if preset.name == "asyncio":
        _adapt_decorator_calls(plan, facts, preset)
    plan.dead_ifs = facts.dead_ifs
    _check_names(plan, facts, preset)
    if any(w.refusal for w in plan.warnings):
        plan.refuse_file()
    return plan


_CURRENT_TASK = frozenset({"asyncio.Task.current_task", "asyncio.tasks.Task.current_task"})
_CHECKED = "returns a value that may be awaitable: converted to asyncio.coroutine's own run-time test (--awaitable-returns=check); write return await x or return x when you know which"


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
