"""Classify each coroutine function of a module: converted, kept a generator, or refused.

Theory of operation: ``PlanBuilder`` finds the functions under the
preset's decorator and collects refusals, first from each function itself
(``local_reasons``: a ``raise gen.Return`` under a broad ``except``, a
yielded value it cannot type, the preset's own rules), then from how the
file uses it (``usage_reasons``: a plain generator consumes it with
``yield from``; a Tornado coroutine called without ``yield`` outside a
coroutine). The second kind depends on which other functions convert, so
``make_plan`` runs it to a fixpoint; ``_generators.emit`` then writes the
node actions.
"""

from __future__ import annotations

import libcst as cst

from .actions import Plan
from .checks import Warning_, protocol_action
from .facts import Facts, FuncFacts
from .keep import keeps_deferred
from .presets import Preset
from .rules import delegates, helper_generators, hinted_generators
from .yields import Refuse, classify_return, classify_with, classify_yield

__all__ = ["PlanBuilder"]

_CHECKED = "returns a value that may be awaitable: converted to asyncio.coroutine's own run-time test (--awaitable-returns=check); write return await x or return x when you know which"


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


class PlanBuilder:
    """Classify the coroutine functions of one module: converted, kept a generator, refused."""

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
