"""What the lint knows about the runtimes being left, read from the codemods that convert them.

The generator-coroutine decorators, and the base classes of networking no
codemod rewrites (a Twisted ``Protocol``/``Factory`` moves bytes through
callbacks only the reactor calls: turning it into ``shims.connect``/
``shims.serve`` reads and writes is a redesign, hand work that ``migrate
scan`` counts), are the generators-to-async preset table's
(``codemods._generators.presets``), and the shim equivalent of each
``legacy.runtime`` name is the bundled legacy-to-shim spec's
(``LegacyToShimCommand.load()``), so a name the codemods learn is one the
lint knows, with no second table to keep in step. Importing this module
imports the codemods (and libcst): only the lint engine does.
"""

from __future__ import annotations

import functools
from collections.abc import Callable

import libcst as cst

from codemods import LegacyToShimCommand
from codemods._generators.presets import PRESETS
from codemods._rename.spec import BUILTINS

__all__ = [
    "DECORATOR_WORDS",
    "GENERATOR_DECORATORS",
    "HAND_WORK_BASES",
    "HAND_WORK_WORDS",
    "coroutine_left_message",
    "count_hand_work",
    "legacy_advice",
]

#: Qualified name of each decorator that makes a generator a coroutine -> its preset.
GENERATOR_DECORATORS: dict[str, str] = {
    decorator: name for name, preset in PRESETS.items() for decorator in preset.decorators
}
#: The decorators' last names: a file with none of them holds no generator coroutine.
DECORATOR_WORDS = tuple(sorted({d.rsplit(".", 1)[-1] for d in GENERATOR_DECORATORS}))
HAND_WORK_BASES: frozenset[str] = frozenset().union(*(p.hand_work for p in PRESETS.values()))
#: The base classes' last names: a file with none of them has no hand work.
HAND_WORK_WORDS = tuple(sorted({q.rsplit(".", 1)[-1] for q in HAND_WORK_BASES}))

_CODEMOD = "run `migrate codemod legacy-to-shim`"


@functools.cache
def legacy_advice(member: str) -> str:
    """Return what to do instead of ``legacy.runtime.<member>``, as the codemods would."""
    spec = LegacyToShimCommand.load()
    rule = spec.rules.get(member)
    if rule is not None:
        target = rule.target
        if target.module == BUILTINS:
            return f"use the builtin `{target.expr}`, or {_CODEMOD}"
        return f"use `{target.module}.{target.expr}`, or {_CODEMOD}"
    if f"{spec.source}.{member}" in GENERATOR_DECORATORS:
        return "use `async def` with `await` (`migrate codemod generators-to-async`)"
    if member in spec.refuse:
        return spec.refuse[member]
    return f"use the shims equivalent, or {_CODEMOD}"


def count_hand_work(node: cst.ClassDef, qualify: Callable[[cst.CSTNode], str | None]) -> int:
    """Return 1 for a class with a base in ``HAND_WORK_BASES``, else 0.

    ``qualify`` resolves a base expression through the file's imports.
    """
    return int(any(qualify(base.value) in HAND_WORK_BASES for base in node.bases))


def coroutine_left_message(name: str, *, call: bool) -> str:
    """Explain MIG006 for a use of the generator-coroutine decorator ``name``."""
    preset = GENERATOR_DECORATORS[name]
    use = f"`{name}(...)` called" if call else f"`@{name}`"
    why = (
        "AttributeError when this runs on Python 3.11+ (asyncio.coroutine was removed)"
        if preset == "asyncio"
        else "the service cannot flip to asyncio while it is there"
    )
    return (
        f"{use} left: {why}; run `migrate codemod generators-to-async --preset {preset}` "
        "or make it `async def` by hand"
    )
