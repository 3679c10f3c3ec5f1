"""Rules of generators-to-async that need the whole file: protocol methods, helpers, locks.

Theory of operation: these answer questions ``_generators.plan`` asks about one
function given every fact of the module.

- Protocol methods: ``iter()``, ``next()`` and ``await`` call ``__iter__``,
  ``__next__`` and ``__await__`` and need what they return to be an
  iterator, so those never become ``async def``. A decorated ``__iter__`` or
  ``__next__`` keeps its generator under ``@types.coroutine`` (so it may
  still ``yield from`` a native coroutine); a decorated ``__await__`` loses
  the decorator (``await`` rejects an ``__await__`` that returns a
  coroutine-flagged generator). ``__aiter__`` must return an async iterator
  since Python 3.7: one that returns ``self`` becomes a plain ``def``.
- Delegation: a plain generator that implements the awaitable protocol
  (``__await__``, or ``__iter__`` of a class that also has ``__await__``)
  and does ``yield from x`` breaks once ``x`` is a native coroutine (even
  one from another module): it delegates through ``x.__await__()``, which
  coroutines, futures and awaitable objects all have.
- Helpers: an undecorated generator whose every ``yield`` is a ``yield
  from``, that is handed to a runner (``run_until_complete``,
  ``ensure_future``...) or delegated to by a coroutine, and whose name is
  used for nothing else, was a coroutine in all but name: it becomes
  ``async def``.
- Locks: ``with (yield from x)`` meant "await x, then use the result as a
  context manager", which ``async with x`` only equals when ``x`` is an
  asyncio lock, semaphore or condition; that is known only when the file
  visibly creates ``x`` from one of those classes.
"""

from __future__ import annotations

import libcst as cst

from .._names import dotted_name
from .facts import Facts, FuncFacts, call_key

__all__ = [
    "AWAIT_PROTOCOL",
    "ITER_PROTOCOL",
    "awaitable_class",
    "delegates",
    "helper_generators",
    "hinted_generators",
    "is_known_lock",
    "iter_awaitable",
]

# Methods that must return an iterator (never a coroutine object).
ITER_PROTOCOL = frozenset({"__iter__", "__next__"})
AWAIT_PROTOCOL = "__await__"

LOCK_CLASSES = frozenset(
    f"asyncio.{module}{name}"
    for module in ("", "locks.")
    for name in ("Lock", "Semaphore", "BoundedSemaphore", "Condition")
)


def _all_locks(callees: list[cst.BaseExpression | None] | None, facts: Facts) -> bool:
    return bool(callees) and all(
        callee is not None and facts.imports.resolve(callee) in LOCK_CLASSES
        for callee in callees or ()
    )


def is_known_lock(expr: cst.BaseExpression, func: FuncFacts, facts: Facts, depth: int = 0) -> bool:
    """Tell whether ``expr`` is surely an asyncio lock, semaphore or condition.

    A parameter is one when every call of its function in the file passes
    one (``consume(queue, lock)`` after ``lock = asyncio.Lock()``).
    """
    if isinstance(expr, cst.Name):
        scope: FuncFacts | None = func
        while scope is not None:
            if expr.value in scope.locals:
                if "param" in scope.kinds.get(expr.value, set()):
                    return depth < 3 and _lock_argument(scope, expr.value, facts, depth)
                return _all_locks(scope.assigned.get(expr.value), facts)
            scope = scope.parent
        return False
    if not isinstance(expr, cst.Attribute):
        return False
    head: cst.BaseExpression = expr.value
    while isinstance(head, cst.Attribute):  # ``self._parent._not_full``: the file's own objects
        head = head.value
    if not isinstance(head, cst.Name):
        return False
    owner = head.value
    if owner != "self" and not _instance_of_own_class(owner, func, facts):
        return False
    # Every ``self.<attr> = ...`` of the file's classes must make a lock.
    return _all_locks(facts.attr_assigned.get(f"self.{expr.attr.value}"), facts)


def _instance_of_own_class(name: str, func: FuncFacts, facts: Facts) -> bool:
    """Tell whether local ``name`` only ever holds ``C(...)`` for classes ``C`` of this file."""
    scope: FuncFacts | None = func
    while scope is not None and name not in scope.locals:
        scope = scope.parent
    if scope is None or "param" in scope.kinds.get(name, set()):
        return False
    callees = scope.assigned.get(name) or [None]
    return all(isinstance(c, cst.Name) and c.value in facts.classes for c in callees)


def _lock_argument(func: FuncFacts, param: str, facts: Facts, depth: int) -> bool:
    params = func.node.params
    if func.in_class or param not in [p.name.value for p in params.params]:
        return False
    index = [p.name.value for p in params.params].index(param)
    calls = [c for c in facts.calls if c.key == func.key and c.scope is not None]
    if not calls:
        return False
    for call in calls:
        args = call.node.args
        arg = next((a for a in args if a.keyword is not None and a.keyword.value == param), None)
        if arg is None and index < len(args) and args[index].keyword is None:
            arg = args[index]
        if arg is None or arg.star or call.scope is None:
            return False
        if not is_known_lock(arg.value, call.scope, facts, depth + 1):
            return False
    return True


def _members(func: FuncFacts, facts: Facts) -> set[str]:
    return facts.members.get(id(func.cls), set()) if func.cls is not None else set()


def delegates(func: FuncFacts, facts: Facts) -> bool:
    """Tell whether ``func`` is a plain generator implementing the awaitable protocol."""
    if not func.in_class:
        return False
    if func.name == AWAIT_PROTOCOL:
        return True
    return func.name == "__iter__" and (
        AWAIT_PROTOCOL in _members(func, facts) or iter_awaitable(func, facts)
    )


def iter_awaitable(func: FuncFacts, facts: Facts) -> bool:
    """Tell whether ``__iter__`` is Python 3.4's awaitable protocol in a class without ``__await__``.

    ``with (yield from pool) as conn`` called ``pool.__iter__()``: a generator
    that only delegates (``yield from``) and returns a value is that protocol,
    not a data iterator. ``await pool`` needs ``__await__``, so such a class
    gets ``__await__ = __iter__`` next to it.
    """
    return (
        func.name == "__iter__"
        and func.in_class
        and not func.node.decorators
        and AWAIT_PROTOCOL not in _members(func, facts)
        and _only_yield_from(func)
        and any(r.value is not None for r in func.returns)
    )


def awaitable_class(func: FuncFacts, facts: Facts) -> bool:
    """Tell whether the class of method ``func`` defines ``__await__`` in its body."""
    return AWAIT_PROTOCOL in _members(func, facts)


def _only_yield_from(func: FuncFacts) -> bool:
    return bool(func.yields) and all(isinstance(y.value, cst.From) for y in func.yields)


def helper_generators(facts: Facts, deco: dict[int, int]) -> dict[int, FuncFacts]:
    """Return the undecorated generators that are coroutines in all but name (see above)."""
    defs: dict[str, list[FuncFacts]] = {}
    for func in facts.funcs:
        defs.setdefault(func.key, []).append(func)
    iterated = {c.key for c in facts.iterated} | {c.name for c in facts.iterated}
    plain = {
        id(f.node): f
        for f in facts.funcs
        if id(f.node) not in deco
        and f.node.asynchronous is None
        and not f.node.decorators
        and f.yields
        and not f.name.startswith("__")
    }
    chosen: dict[int, FuncFacts] = {}
    candidates = {k: f for k, f in plain.items() if _only_yield_from(f)}
    uses: dict[str, list[bool]] = {}
    for call in facts.calls:
        if call.key is not None:
            uses.setdefault(call.key, []).append(call.run)
    delegated: dict[str, list[FuncFacts | None]] = {}
    for key, scope, _ in facts.yield_from_calls:
        delegated.setdefault(key, []).append(scope)
    changed = True
    while changed:
        changed = False
        for key_id, func in list(candidates.items()):
            if key_id in chosen:
                continue
            same = defs[func.key]
            if any(id(f.node) not in deco and id(f.node) not in candidates for f in same):
                continue
            if func.key in iterated or func.name in iterated:
                continue
            runs = uses.get(func.key, [])
            by_coroutines = [
                s
                for s in delegated.get(func.key, [])
                if s is not None and (id(s.node) in deco or id(s.node) in chosen)
            ]
            others = len(runs) - sum(runs) - len(by_coroutines)
            if others > 0 or not (any(runs) or by_coroutines):
                continue
            if not func.in_class and facts.names[func.name] != len(same) + len(runs):
                continue  # the name is passed around or stored: not only run
            if any(_blocks(y, plain, chosen) for y in func.yields):
                continue
            chosen[key_id] = func
            changed = True
    return chosen


def hinted_generators(
    facts: Facts, deco: dict[int, int], hints: frozenset[str]
) -> dict[int, FuncFacts]:
    """Return the generators under a decorator the user named as running coroutines."""
    if not hints:
        return {}
    found: dict[int, FuncFacts] = {}
    for func in facts.funcs:
        if id(func.node) in deco or func.node.asynchronous is not None or not func.yields:
            continue
        for decorator in func.node.decorators:
            expr = decorator.decorator
            target = expr.func if isinstance(expr, cst.Call) else expr
            if facts.imports.resolve(target) in hints or dotted_name(target) in hints:
                found[id(func.node)] = func
                break
    return found


def _blocks(node: cst.Yield, plain: dict[int, FuncFacts], chosen: dict[int, FuncFacts]) -> bool:
    """Tell whether ``yield from`` here targets a plain generator that stays one."""
    value = node.value
    if not isinstance(value, cst.From) or not isinstance(value.item, cst.Call):
        return False
    key = call_key(value.item)
    return any(f.key == key and k not in chosen for k, f in plain.items())
