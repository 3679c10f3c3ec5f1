"""What telemetry knows about this process: the state the hooks write and exporters read.

Its own module so that the hooks (``_telemetry``) and the exporters
(``_telemetry_export``, imported only when telemetry is on) share it without
importing each other.
"""

from __future__ import annotations

import weakref
from collections import defaultdict
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ._pool import ConnectionPool
    from ._telemetry_export import Exporter

__all__ = ["POOL_REASONS", "S", "pool_totals"]

POOL_REASONS = ("dead", "expired", "idle", "unread", "error", "closed")


class _State:
    """What the process knows about itself, and what is being recorded."""

    def __init__(self) -> None:
        self.service = "-"
        self.backend = "-"
        self.source = "-"
        self.decided_by = "-"
        self.exporters: list[Exporter] = []
        self.sinks: dict[str, list[Callable[..., None]]] = defaultdict(list)  # event -> methods
        self.peer_fin_at: weakref.WeakKeyDictionary[Any, float] = weakref.WeakKeyDictionary()
        self.timed_out: weakref.WeakSet[Any] = weakref.WeakSet()
        # pool -> the backend it was created on; counts of collected pools by (name, backend)
        self.pools: weakref.WeakKeyDictionary[ConnectionPool, str] = weakref.WeakKeyDictionary()
        self.retired: dict[tuple[str, str], dict[str, int]] = defaultdict(lambda: defaultdict(int))


S = _State()


def pool_totals() -> Iterator[tuple[tuple[str, str], dict[str, int]]]:
    """Yield ``((pool name, backend), counters)`` summed over live and collected pools.

    Counters are ``pool.stats()``'s, ``idle``/``in_use`` only over live pools.
    """
    merged: dict[tuple[str, str], dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for where, totals in list(S.retired.items()):
        for key, value in totals.items():
            merged[where][key] += value
    for pool, backend in list(S.pools.items()):
        for key, value in pool.stats().items():
            merged[pool.name, backend][key] += value
    yield from merged.items()
