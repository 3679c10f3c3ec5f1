"""What the lint knows about the legacy runtime, read from the codemods that convert it.

The generator-coroutine decorators are the generators-to-async presets'
(``codemods._gen_presets``), and the shim equivalent of each
``legacy.runtime`` name is the bundled legacy-to-shim spec's
(``LegacyToShimCommand.load()``), so a name the codemods learn is one the
lint knows, with no second table to keep in step. Importing this module
imports the codemods (and libcst): only the lint engine does.
"""

from __future__ import annotations

import functools

from codemods import LegacyToShimCommand
from codemods._gen_presets import PRESETS
from codemods._spec import BUILTINS

__all__ = ["GENERATOR_DECORATORS", "coroutine_left_message", "legacy_advice"]

#: Qualified names of the decorators that make a generator a coroutine, every dialect.
GENERATOR_DECORATORS = frozenset().union(*(preset.decorators for preset in PRESETS.values()))

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


def coroutine_left_message(name: str, *, call: bool) -> str:
    """Explain MIG006 for a use of the generator-coroutine decorator ``name``."""
    preset = next(key for key, entry in PRESETS.items() if name in entry.decorators)
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
