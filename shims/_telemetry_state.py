"""What telemetry knows about this process: the counts the hooks write and exporters read.

Its own module so that the hooks (``_telemetry``) and the exporters
(``_telemetry_export``, imported only when telemetry is on) share it without
importing each other.

Why the hooks count into plain dicts instead of calling a metrics library:
a connection's life makes five hook calls, and a ``prometheus_client``
``Counter.inc`` (observability check, lock, exemplar check) or an
OpenTelemetry ``add`` (attribute dict) costs several times a dict update.
The exporters read these tables when they are collected (a scrape, an
OpenTelemetry reader's collection): counters as the cumulative totals they
are, histograms as bucket counts and a sum. Updates take ``LOCK``, so loops
in several threads count exactly.
"""

from __future__ import annotations

import threading
import time
import weakref
from bisect import bisect_left
from collections import defaultdict
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ._pool import ConnectionPool
    from ._telemetry_export import Exporter

__all__ = ["LOCK", "POOL_REASONS", "Counts", "Histogram", "S", "pool_totals", "snapshot"]

POOL_REASONS = ("dead", "expired", "idle", "unread", "error", "closed")
LAG_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)
DWELL_BUCKETS = (0.001, 0.01, 0.1, 0.5, 1.0, 5.0, 10.0, 30.0, 60.0, 300.0, 1800.0)
WAIT_BUCKETS = (0.0001, 0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1.0, 5.0, 10.0)

LOCK = threading.Lock()


class Counts(dict[tuple[str, ...], int]):
    """Label values -> total; a missing series starts at 0 (``counts[key] += 1`` under ``LOCK``).

    ``created`` is the wall time each series first appeared (Prometheus' ``_created``).
    """

    def __init__(self) -> None:
        super().__init__()
        self.created: dict[tuple[str, ...], float] = {}

    def __missing__(self, key: tuple[str, ...]) -> int:
        self.created.setdefault(key, time.time())
        return 0

    def ensure(self, key: tuple[str, ...]) -> None:
        """Make the series exist at 0 (it is exported from then on)."""
        with LOCK:
            if key not in self:
                self[key] = self[key]


class Histogram(dict[tuple[str, ...], list[float]]):
    """Label values -> ``[count per bucket (non-cumulative; the last is +Inf)..., sum]``."""

    def __init__(self, bounds: tuple[float, ...]) -> None:
        super().__init__()
        self.bounds = bounds
        self.created: dict[tuple[str, ...], float] = {}

    def __missing__(self, key: tuple[str, ...]) -> list[float]:
        self.created.setdefault(key, time.time())
        row = self[key] = [0] * (len(self.bounds) + 1) + [0.0]
        return row

    def observe(self, key: tuple[str, ...], value: float) -> None:
        """Count ``value`` in the first bucket whose upper bound is >= it (Prometheus' ``le``)."""
        with LOCK:
            row = self[key]
            row[bisect_left(self.bounds, value)] += 1
            row[-1] += value

    def ensure(self, key: tuple[str, ...]) -> None:
        with LOCK:
            self[key]

    def rows(self) -> list[tuple[tuple[str, ...], list[float], float]]:
        """Return ``(labels, cumulative bucket counts, sum)`` per series, a consistent copy."""
        with LOCK:
            copied = [(key, list(row)) for key, row in self.items()]
        out = []
        for key, row in copied:
            cumulative, total = [], 0.0
            for n in row[:-1]:
                total += n
                cumulative.append(total)
            out.append((key, cumulative, row[-1]))
        return out


class _State:
    """What the process knows about itself, and what has been recorded."""

    def __init__(self) -> None:
        self.service = "-"
        self.backend = "-"
        self.source = "-"
        self.decided_by = "-"
        self.exporters: list[Exporter] = []
        # Exporters that want each histogram observation as it happens (OpenTelemetry):
        # called with (histogram name, label values, value).
        self.observers: list[Callable[[str, tuple[str, ...], float], None]] = []
        # (service, backend, initiated_by) and (service, backend, initiated_by, how)
        self.opened = Counts()
        self.closes = Counts()
        # (service, backend)
        self.eof = Counts()
        self.read_timeouts = Counts()
        self.write_timeouts = Counts()
        self.unhandled = Counts()
        self.legacy_entered = Counts()
        self.dwell = Histogram(DWELL_BUCKETS)
        self.lag = Histogram(LAG_BUCKETS)
        self.pool_wait = Histogram(WAIT_BUCKETS)  # (service, backend, pool)
        # id(connection) -> when the peer's FIN arrived; ids of connections that timed out.
        # Keyed by id, not by weak reference (which costs a weakref per lookup): every
        # connection reaches CLOSED (run() closes leftovers), which removes its entries,
        # and opened() clears what a freed connection with the same id could have left.
        self.peer_fin_at: dict[int, float] = {}
        self.timed_out: set[int] = set()
        # pool -> the backend it was created on; counts of collected pools by (name, backend)
        self.pools: weakref.WeakKeyDictionary[ConnectionPool, str] = weakref.WeakKeyDictionary()
        self.retired: dict[tuple[str, str], dict[str, int]] = defaultdict(lambda: defaultdict(int))

    def counts(self) -> dict[str, Counts]:
        """Every counter table by name."""
        return {
            "opened": self.opened,
            "closes": self.closes,
            "eof": self.eof,
            "read_timeouts": self.read_timeouts,
            "write_timeouts": self.write_timeouts,
            "unhandled": self.unhandled,
            "legacy_entered": self.legacy_entered,
        }


S = _State()


def snapshot(counts: Counts) -> list[tuple[tuple[str, ...], int, float | None]]:
    """Return ``(labels, total, created)`` per series of ``counts``, a consistent copy."""
    with LOCK:
        return [(key, n, counts.created.get(key)) for key, n in counts.items()]


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
