"""Reports of generators-to-async, and the checks that refuse a whole file.

A ``Warning_`` is either a refusal (the file is left byte-identical, the
text says what to edit by hand) or a note that accompanies a change.
``bad_input`` finds what makes a file unsafe to convert at all: coroutines
of two dialects in one file, a function under two coroutine decorators, a
coroutine whose result is also iterated as data, and a coroutine decorator
used as a call (``asyncio.coroutine(fn)``), which no rewrite of the call
alone can replace. ``protocol_action`` says what happens to a decorated
protocol method (see ``_generators.rules``).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import libcst as cst

from .facts import Facts, FuncFacts
from .presets import PRESETS, Preset
from .rules import AWAIT_PROTOCOL, ITER_PROTOCOL

__all__ = ["ADAPTOR", "Warning_", "bad_input", "decorator_calls", "protocol_action"]

# What ``asyncio.coroutine(fn)`` becomes: the same function, for a Python
# without it (no debug wrapper; a plain function's awaitable result is awaited).
ADAPTOR_NAME = "_coroutine_function"
ADAPTOR = f'''

def {ADAPTOR_NAME}(func):
    """Stand in for asyncio.coroutine(func), gone in Python 3.11 (added by generators-to-async)."""
    if inspect.iscoroutinefunction(func):
        return func
    if inspect.isgeneratorfunction(func):
        return types.coroutine(func)

    @functools.wraps(func)
    async def coroutine(*args, **kwargs):
        result = func(*args, **kwargs)
        if inspect.isawaitable(result):
            result = await result
        return result

    return coroutine
'''


def decorator_calls(facts: Facts, preset: Preset) -> list[cst.Call]:
    """Return the calls of the preset's decorator as a function (``asyncio.coroutine(fn)``)."""
    return [c.node for c in facts.calls if facts.imports.resolve(c.node.func) in preset.decorators]


@dataclass(frozen=True)
class Warning_:
    """A report anchored at a node; ``{0}``... in the text are the lines of ``refs``."""

    node: cst.CSTNode
    text: str
    refs: tuple[cst.CSTNode, ...] = ()
    # A refusal leaves the whole file as it is; a note accompanies a change.
    refusal: bool = True


def _dialect(qualname: str | None) -> str | None:
    for name, preset in PRESETS.items():
        if qualname in preset.decorators:
            return name
    return None


def bad_input(facts: Facts, preset: Preset, cands: Sequence[FuncFacts]) -> Iterator[Warning_]:
    """Yield a refusal for every construct that makes the file unsafe to convert."""
    seen: dict[str, cst.CSTNode] = {}
    for func in facts.funcs:
        found = [
            (d, dialect)
            for d in func.node.decorators
            if (dialect := _dialect(facts.imports.resolve(d.decorator))) is not None
        ]
        for deco, dialect in found:
            seen.setdefault(dialect, deco)
        if len(found) > 1 and any(dialect == preset.name for _, dialect in found):
            yield Warning_(
                found[1][0],
                f"{func.name}() is under two coroutine decorators; keep one by hand, then run the codemod again",
            )
    for call in facts.calls:
        dialect = _dialect(facts.imports.resolve(call.node.func))
        if dialect is None:
            continue
        seen.setdefault(dialect, call.node)
        if dialect == preset.name and preset.name != "asyncio":
            name = ".".join(sorted(preset.decorators)[0].rsplit(".", 2)[-2:])
            yield Warning_(
                call.node,
                f"{name}(...) used as a call, not as a decorator (it is gone in Python 3.11); replace it by hand with an async def that awaits the wrapped function's result when it is awaitable",
            )
    others = sorted(set(seen) - {preset.name})
    if preset.name in seen and others:
        yield Warning_(
            seen[others[0]],
            f"this file mixes {preset.name} and {others[0]} generator coroutines; convert it by hand or split it, one dialect per file",
        )
    iterated = {c.key: c for c in facts.iterated if c.key is not None}
    for func in cands:
        use = iterated.get(func.key)
        if use is not None:
            yield Warning_(
                func.node,
                f"{func.name}() is a coroutine, but its result is iterated as data at line {{0}}; an async def cannot be: split it into a coroutine and a plain generator by hand",
                (use.node,),
            )


def protocol_action(func: FuncFacts, facts: Facts) -> str | None:
    """Return "types"/"plain" for a decorated protocol method, or None (not one)."""
    if not func.in_class:
        return None
    if func.name in ITER_PROTOCOL:
        return "types"  # iter()/next() need a generator; it may still yield from coroutines
    if func.name == AWAIT_PROTOCOL:
        return "plain"  # await rejects an __await__ returning a coroutine-flagged generator
    if func.name != "__aiter__":
        return None
    if (
        not func.yields
        and func.returns
        and all(isinstance(r.value, cst.Name) and r.value.value == "self" for r in func.returns)
    ):
        return "plain"
    # A coroutine __aiter__ (Python 3.5.0/3.5.1) is an error since 3.7 either
    # way; @types.coroutine is exactly what asyncio.coroutine made of it.
    return "types"
