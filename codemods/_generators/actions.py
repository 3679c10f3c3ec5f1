"""What generators-to-async does to one module: node-level actions keyed by ``id()``.

``Plan`` is what ``make_plan`` returns and the transformer applies; a
refused function has no entry, so it stays byte-identical.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from .checks import Warning_
from .facts import FuncFacts
from .import_table import Binding

__all__ = ["FuncAction", "Plan"]


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
