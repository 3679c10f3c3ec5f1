"""What the lint engine reads from the generators-to-async preset table.

Only the lint engine imports this module (it imports the codemods, hence
libcst), so commands that lint nothing start without them.

``GENERATOR_DECORATORS``: every preset's coroutine decorators, counted by
``migrate scan`` as generator coroutines left and treated as coroutines by
the lints.

Hand work ``migrate scan`` counts per service: networking no codemod
rewrites. A Twisted ``Protocol``/``Factory`` subclass moves bytes through callbacks
(``dataReceived``, ``connectionLost``) that only Twisted's reactor calls;
turning it into ``shims.connect``/``shims.serve`` reads and writes is a
redesign, not a rename. The base classes come from the generators-to-async
preset table (each preset's ``hand_work``), so a dialect that adds some is
one table entry. The lint engine calls ``count_hand_work`` once per class
and uses ``HAND_WORK_WORDS`` in its prefilter.
"""

from __future__ import annotations

from collections.abc import Callable

import libcst as cst

from codemods import PRESETS

__all__ = ["GENERATOR_DECORATORS", "HAND_WORK_BASES", "HAND_WORK_WORDS", "count_hand_work"]

#: qualified decorator name -> the generators-to-async preset that converts it
GENERATOR_DECORATORS: dict[str, str] = {
    decorator: preset.name for preset in PRESETS.values() for decorator in preset.decorators
}

HAND_WORK_BASES: frozenset[str] = frozenset().union(*(p.hand_work for p in PRESETS.values()))
#: Every base class's last name: a file with none of them has no hand work.
HAND_WORK_WORDS: tuple[str, ...] = tuple(sorted({q.rsplit(".", 1)[-1] for q in HAND_WORK_BASES}))


def count_hand_work(node: cst.ClassDef, qualify: Callable[[cst.CSTNode], str | None]) -> int:
    """Return 1 for a class with a base in ``HAND_WORK_BASES``, else 0.

    ``qualify`` resolves a base expression through the file's imports (the
    lint engine's alias-aware resolver).
    """
    return int(any(qualify(base.value) in HAND_WORK_BASES for base in node.bases))
