"""What telemetry knows about this process: the counts the hooks write and exporters read.

Its own module so that the hooks (``_telemetry``) and the exporters
(``_telemetry_export``, imported only when telemetry is on) share it without
importing each other.

Why the hooks count here instead of calling a metrics library: a
connection's life makes five hook calls, and a ``prometheus_client``
``Counter.inc`` (observability check, lock, exemplar check) or an
OpenTelemetry ``add`` (attribute dict) costs several times a ``next()`` on
an ``itertools.count``, which is one C call, atomic under the GIL, so loops
in several threads count exactly without a lock. Histogram observations are
appended to a deque (atomic too) and folded into buckets in batches. The
exporters read these tables when they are collected (a scrape, an
OpenTelemetry reader's collection): counters as the cumulative totals they
are, histograms as bucket counts and a sum. ``LOCK`` guards creating a
series, folding and reading, none of which is on a hook's common path.
"""

from __future__ import annotations

import collections
import itertools
import math
import threading
import time
import weakref
from bisect import bisect_right
from collections import defaultdict
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ._pool import ConnectionPool
    from ._telemetry_export import Exporter

__all__ = ["LOCK", "POOL_REASONS", "Counts", "Histogram", "S", "pool_totals", "snapshot", "value"]

POOL_REASONS = ("dead", "expired", "idle", "unread", "error", "closed")
LAG_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)
DWELL_BUCKETS = (0.001, 0.01, 0.1, 0.5, 1.0, 5.0, 10.0, 30.0, 60.0, 300.0, 1800.0)
WAIT_BUCKETS = (0.0001, 0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1.0, 5.0, 10.0)

LOCK = threading.Lock()


class Counts(dict[tuple[str, ...], "itertools.count[int]"]):
    """Label values -> an ``itertools.count`` whose ``next()`` counts one event.

    ``next()`` on a count is one C call, atomic under the GIL: no lock and no
    read-modify-write in Python, so loops in several threads count exactly.
    ``created`` is the wall time each series appeared (Prometheus' ``_created``).
    """

    def __init__(self) -> None:
        super().__init__()
        self.created: dict[tuple[str, ...], float] = {}

    def cell(self, key: tuple[str, ...]) -> itertools.count[int]:
        """Return the counter of series ``key``, creating it (at 0) if needed."""
        with LOCK:
            found = self.get(key)
            if found is None:
                found = self[key] = itertools.count()
                self.created[key] = time.time()
            return found


def value(counter: itertools.count[int]) -> int:
    """Return how many times ``next()`` was called on ``counter`` (a count from 0 by 1).

    ``itertools.count`` has no getter; its repr is ``count(N)`` with N the next value.
    """
    return int(repr(counter)[6:-1])


class Histogram(dict[tuple[str, ...], list[float]]):
    """Label values -> ``[count per bucket (non-cumulative; the last is +Inf)..., sum]``.

    An observation is appended to its series' queue (``queue(key).append(value)``:
    one atomic deque append, no lock) and sorted into buckets later, by
    ``fold()``: when a queue passes ``FOLD_AT`` values and before every read.
    """

    FOLD_AT = 1024

    def __init__(self, bounds: tuple[float, ...]) -> None:
        super().__init__()
        self.bounds = bounds
        self.created: dict[tuple[str, ...], float] = {}
        self.queues: dict[tuple[str, ...], collections.deque[float]] = {}

    def queue(self, key: tuple[str, ...]) -> collections.deque[float]:
        """Return the queue of series ``key``, creating the series (empty) if needed."""
        with LOCK:
            found = self.queues.get(key)
            if found is None:
                found = self.queues[key] = collections.deque()
                self[key] = [0] * (len(self.bounds) + 1) + [0.0]
                self.created[key] = time.time()
            return found

    def observe(self, key: tuple[str, ...], value: float) -> None:
        queue = self.queue(key)
        queue.append(value)
        if len(queue) > self.FOLD_AT:
            self.fold()

    def fold(self) -> None:
        """Count every queued value in the first bucket whose bound is >= it (``le``).

        In C, not a Python loop per value: take exactly the values queued now
        (appends racing with the fold stay queued), sort them, and bisect once
        per bound.
        """
        bounds = self.bounds
        with LOCK:
            for key, queue in self.queues.items():
                n = len(queue)
                if not n:
                    continue
                values = sorted(itertools.islice(iter(queue.popleft, None), n))
                row, below = self[key], 0
                for i, bound in enumerate(bounds):
                    upto = bisect_right(values, bound)
                    row[i] += upto - below
                    below = upto
                row[-2] += n - below  # +Inf
                row[-1] += math.fsum(values)

    def rows(self) -> list[tuple[tuple[str, ...], list[float], float]]:
        """Return ``(labels, cumulative bucket counts, sum)`` per series, a consistent copy."""
        self.fold()
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


S = _State()


def snapshot(counts: Counts) -> list[tuple[tuple[str, ...], int, float | None]]:
    """Return ``(labels, total, created)`` per series of ``counts``, a consistent copy."""
    with LOCK:
        series = list(counts.items())
    return [(key, value(counter), counts.created.get(key)) for key, counter in series]


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
