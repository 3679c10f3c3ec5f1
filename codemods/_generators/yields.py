"""Classify one ``yield``, ``with (yield ...)`` or ``return`` of a coroutine being converted.

Each function returns an action tag the transformer knows how to build, or
raises ``Refuse`` with the node and a reason the user can act on. What a
yielded value means depends on the dialect: Tornado waits for every element
of a yielded list or dict, the legacy runtime for every element of a list or
tuple (``wait_all``), asyncio generators use ``yield from`` only.
"""

from __future__ import annotations

import libcst as cst

from .facts import Facts, FuncFacts, call_key, callee_name
from .presets import TORNADO_MOMENT, TORNADO_MULTI, TORNADO_SLEEP, Preset
from .rules import awaitable_class, is_known_lock

__all__ = ["Refuse", "classify_return", "classify_with", "classify_yield"]


class Refuse(Exception):
    """A construct that cannot be converted safely; the function stays as it is."""

    def __init__(self, node: cst.CSTNode, reason: str) -> None:
        super().__init__(reason)
        self.node = node
        self.reason = reason


def _collection_action(
    expr: cst.BaseExpression, source: str, func: FuncFacts, preset: Preset, node: cst.Yield
) -> tuple[str, str] | None:
    """Return the action for a yielded collection, None when ``expr`` is not one."""
    if isinstance(expr, cst.List | cst.ListComp | cst.Tuple):
        if isinstance(expr, cst.Tuple) and not preset.name == "legacy":
            raise Refuse(
                node,
                "a yielded tuple is not a Tornado yieldable (only lists and dicts are); use a list",
            )
        if any(isinstance(e, cst.StarredElement) for e in getattr(expr, "elements", ())):
            raise Refuse(
                node, "a yielded list with *unpacking; build the list first, then yield it"
            )
        return ("wait_all" if preset.name == "legacy" else "gather", source)
    if isinstance(expr, cst.Dict):
        if not preset.dicts:
            raise Refuse(node, f"the {preset.name} runtime does not wait for a yielded dict")
        if any(isinstance(e, cst.StarredDictElement) for e in expr.elements):
            raise Refuse(node, "a yielded dict with **unpacking; build the dict first")
        return ("gather_dict", source)
    if isinstance(expr, cst.DictComp):
        raise Refuse(
            node, "a yielded dict comprehension; assign it to a name first, then yield the name"
        )
    if isinstance(expr, cst.Name):
        kinds = func.kinds.get(expr.value, set())
        if (
            "param" in kinds
            or len(kinds - {"other"}) > 1
            or (kinds - {"other"} and "other" in kinds)
        ):
            raise Refuse(
                node,
                f"cannot tell whether {expr.value!r} holds a list, a dict or an awaitable here; convert this yield by hand",
            )
        if kinds == {"list"}:
            return ("wait_all" if preset.name == "legacy" else "gather_star", source)
        if kinds == {"dict"}:
            if not preset.dicts:
                raise Refuse(node, f"the {preset.name} runtime does not wait for a yielded dict")
            return ("gather_dict_name", source)
    return None


def classify_yield(
    node: cst.Yield, func: FuncFacts, facts: Facts, preset: Preset
) -> tuple[str, str]:
    """Return the action for one own-scope ``yield`` of a coroutine being converted."""
    value = node.value
    if value is None:
        stmt = facts.yield_stmt.get(id(node))
        if stmt is not None and id(stmt) in facts.dead_stmts:
            return ("remove", "")
        return ("sleep0", "")
    if isinstance(value, cst.From):
        return ("await", "")
    if not preset.value_yield:
        raise Refuse(
            node,
            "yield with a value in an @asyncio.coroutine generator (asyncio needs yield from); fix it by hand",
        )
    if not preset.lists:
        return ("await", "")
    qual = facts.imports.resolve(value.func if isinstance(value, cst.Call) else value)
    if preset.name == "tornado":
        if qual == TORNADO_MOMENT:
            return ("sleep0", "")
        if isinstance(value, cst.Call) and qual == TORNADO_SLEEP:
            return ("tornado_sleep", "")
        if (
            isinstance(value, cst.Call)
            and isinstance(value.func, cst.Attribute)
            and value.func.attr.value == "submit"
        ):
            # Tornado accepted a concurrent.futures.Future (executor.submit);
            # await does not.
            return ("wrap_future", "")
        if isinstance(value, cst.Call) and qual in TORNADO_MULTI:
            if len(value.args) != 1 or value.args[0].keyword is not None or value.args[0].star:
                raise Refuse(node, "gen.multi() with options; convert this yield by hand")
            action = _collection_action(value.args[0].value, "multi", func, preset, node)
            if action is None:
                raise Refuse(
                    node,
                    "gen.multi() of a value that is neither a list nor a dict here; convert this yield by hand",
                )
            return action
    action = _collection_action(value, "value", func, preset, node)
    return action if action is not None else ("await", "")


def classify_with(node: cst.With, func: FuncFacts, facts: Facts, preset: Preset) -> bool:
    """Tell whether ``with (yield ...)`` becomes ``async with`` (True) or ``with (await ...)``.

    ``with (yield from x) as v`` awaited ``x`` and entered what that
    returned; ``async with x`` enters ``x`` itself, which is the same only
    for an asyncio lock, semaphore or condition the file visibly creates.
    Raises Refuse for a form this preset does not know.
    """
    yields = [i.item for i in node.items if isinstance(i.item, cst.Yield)]
    if preset.name == "asyncio" and all(isinstance(y.value, cst.From) for y in yields):
        locks = [is_known_lock(with_target(y), func, facts) for y in yields]
        if not any(locks):
            return False
        if all(locks) and len(yields) == len(node.items):
            return True
        raise Refuse(
            node,
            "a with statement mixing an asyncio lock with other context managers; split it into one with per lock first",
        )
    if len(yields) != len(node.items):
        raise Refuse(
            node,
            "a with statement mixing (yield ...) and plain context managers; split it first",
        )
    for inner in yields:
        if (
            preset.name == "tornado"
            and isinstance(inner.value, cst.Call)
            and not inner.value.args
            and isinstance(inner.value.func, cst.Attribute)
            and inner.value.func.attr.value == "acquire"
        ):
            continue
        raise Refuse(
            node, "with (yield ...) of a form this preset does not know; write async with by hand"
        )
    return True


def with_target(item: cst.Yield) -> cst.BaseExpression:
    """Return the lock of ``(yield from lock)`` or ``(yield lock.acquire())``."""
    value = item.value
    if isinstance(value, cst.From):
        return value.item
    assert isinstance(value, cst.Call) and isinstance(value.func, cst.Attribute)
    return value.func.value


_AWAITABLE_ASYNCIO = frozenset(
    "asyncio." + n
    for n in (
        "sleep",
        "wait_for",
        "wait",
        "gather",
        "shield",
        "ensure_future",
        "create_task",
        "open_connection",
        "start_server",
        "open_unix_connection",
        "start_unix_server",
        "create_subprocess_exec",
        "create_subprocess_shell",
        "to_thread",
        "wrap_future",
        "Future",
        "Task",
        "futures.Future",
        "tasks.Task",
    )
)
# Methods whose result is awaitable whatever the receiver (the event loop's API).
_AWAITABLE_METHODS = frozenset(
    {"run_in_executor", "create_future", "create_task", "ensure_future", "sock_connect",
     "sock_recv", "sock_sendall", "sock_accept", "getaddrinfo", "create_connection",
     "create_server", "create_unix_connection", "create_datagram_endpoint", "shutdown_asyncgens"}
)  # fmt: skip
_PLAIN = (
    cst.Integer,
    cst.Float,
    cst.Imaginary,
    cst.SimpleString,
    cst.ConcatenatedString,
    cst.FormattedString,
    cst.List,
    cst.Tuple,
    cst.Dict,
    cst.Set,
    cst.ListComp,
    cst.SetComp,
    cst.DictComp,
    cst.BinaryOperation,
    cst.UnaryOperation,
    cst.Comparison,
    cst.Lambda,
)


def _awaitable_call(value: cst.Call, facts: Facts, coroutines: set[str]) -> bool:
    if call_key(value) in coroutines or callee_name(value) in _AWAITABLE_METHODS:
        return True
    return facts.imports.resolve(value.func) in _AWAITABLE_ASYNCIO


def classify_return(ret: cst.Return, func: FuncFacts, facts: Facts, coroutines: set[str]) -> bool:
    """Tell whether ``return x`` of a yield-less asyncio coroutine needs ``return await x``.

    ``@asyncio.coroutine`` awaited an awaitable returned by a plain function;
    an ``async def`` would hand the awaitable itself to its caller. Raises
    Refuse when the value may or may not be awaitable.
    """
    value = ret.value
    if value is None or isinstance(value, _PLAIN):
        return False
    if isinstance(value, cst.Name) and value.value in ("None", "True", "False"):
        return False
    if isinstance(value, cst.Name) and value.value == "self" and func.in_class:
        # asyncio.coroutine awaited ``self`` only when its class has __await__.
        return awaitable_class(func, facts)
    if isinstance(value, cst.Call) and _awaitable_call(value, facts, coroutines):
        return True
    if isinstance(value, cst.Name) and "param" not in func.kinds.get(value.value, set()):
        # ``fut = loop.create_future(); ...; return fut``
        callees = func.assigned.get(value.value)
        if callees and all(
            isinstance(c, cst.BaseExpression)
            and _awaitable_call(cst.Call(func=c), facts, coroutines)
            for c in callees
        ):
            return True
    raise Refuse(
        ret,
        "this coroutine has no yield and returns a value that may be awaitable (asyncio awaited it, an async def would not); decide by hand: make the function async def with return await x (x awaitable) or return x (x a plain value)",
    )
