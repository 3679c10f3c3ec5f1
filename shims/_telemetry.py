"""Connection and runtime telemetry: the hooks the neutral code calls, and where they go.

Theory of operation: the connection, pool and runtime call the module-level
hooks below (``opened``, ``fired``, ``eof``, ...) at the few points that
matter; none of them is on a read's or write's fast path. At first use the
hooks decide once what to do: when ``MIGRATE_METRICS`` is ``0``, or neither
``prometheus_client`` nor an OpenTelemetry SDK is there, every hook is
rebound to a function that does nothing (and neither library is imported
unless installed); otherwise they are rebound to recorders that count into
``_telemetry_state``'s tables, which the installed exporters
(``_telemetry_export``) read when collected. Call sites read the hook from
this module at each call, so the rebinding is all it takes. Each
``shims.run`` looks for an OpenTelemetry SDK provider installed since.

Labels: ``service`` is this process's service (``shims.run(service=...)``,
``-`` before any), ``backend`` the connection's backend. Pool occupancy and
the pool's counters are not recorded as they happen: exporters read
``pool.stats()`` of every live pool at scrape time (a pool that was
collected leaves its final counts behind), so checkout costs nothing more.

Loop lag is measured the same way on every backend, by this neutral code: a
helper thread posts a probe every ``LAG_INTERVAL`` seconds through the
clock's ``call_soon_threadsafe`` and records how long it waited to run (a
clock without one gets a timer re-armed through its ``call_later``).
"""

from __future__ import annotations

import collections
import itertools
import logging
import os
import threading
import weakref
from collections.abc import Callable
from time import monotonic
from typing import TYPE_CHECKING, Any

from . import _diagnostics
from ._state import ConnectionState
from ._telemetry_state import Counts, Histogram, S, pool_totals

if TYPE_CHECKING:
    from ._contract import Clock, Handle
    from ._pool import ConnectionPool

__all__ = [
    "LAG_INTERVAL",
    "bind",
    "configure",
    "enabled",
    "eof",
    "fired",
    "legacy_entered",
    "loop_monitor",
    "opened",
    "pool_created",
    "pool_totals",
    "pool_waited",
    "read_timeout",
    "unhandled",
    "write_timeout",
]

logger = logging.getLogger("shims")

LAG_INTERVAL = 0.25
_PEER_CLOSED = ConnectionState.PEER_CLOSED
_CLOSED = ConnectionState.CLOSED
_OPEN = ConnectionState.OPEN
# The closes that can happen: we close (fin, rst, timeout) or the peer or network does.
CLOSE_KINDS = {"local": ("fin", "rst", "timeout"), "peer": ("fin", "rst", "error")}
_LOCAL_FIN = ("local", "fin")
# close_reason -> (initiated_by, how) of the close; a local close may still turn out rst/timeout.
_CLOSE_KIND = {
    "peer": ("peer", "fin"),
    "reset": ("peer", "rst"),
    "error": ("peer", "error"),
    # A TLS peer's FIN without close_notify: the peer closed, as the post-mortem's
    # proxy did (the TLS layer alone tells it from an orderly close).
    "truncated": ("peer", "fin"),
    "local": _LOCAL_FIN,
}
_decided = False


def enabled() -> bool:
    """Return True if metrics are recorded (decides on first call, like every hook)."""
    _setup()
    return bool(S.exporters)


def _setup() -> None:
    """Pick the exporters once and rebind the hooks to recorders or to no-ops."""
    global _decided
    if _decided:
        return
    _decided = True
    if not _disabled():
        _add_exporters()
    bind(recording=bool(S.exporters))


def _add_exporters() -> None:
    """Add every exporter that is available now and not yet in use."""
    from ._telemetry_export import available_exporters

    S.exporters = available_exporters(S.exporters)
    S.observers = [e.observe for e in S.exporters if e.observe is not None]


def _disabled() -> bool:
    return os.environ.get("MIGRATE_METRICS", "").strip() == "0"


def bind(*, recording: bool) -> None:
    """Point every hook at its recorder, or at a no-op (also how benchmarks compare the two)."""
    table = _RECORDERS if recording else dict.fromkeys(_RECORDERS, _nothing)
    globals().update(table)
    _HOOKS.update(table)


def _nothing(*args: Any, **kwargs: Any) -> Any:
    return None


# -- recorders (bound as the hooks when something records) ----------------------
# Each counts into _telemetry_state's tables (see there why); exporters read them.
# The per-connection ones reach their counter through a cache of this service's
# counters by backend and kind: no label tuple is built on the way.

_FIN_AT, _TIMED_OUT = S.peer_fin_at, S.timed_out
_OPENED_BY: dict[str, dict[str, itertools.count[int]]] = {}  # backend -> initiated_by ->
_CLOSES_BY: dict[str, dict[tuple[str, str], itertools.count[int]]] = {}  # backend -> kind ->
_DWELL_BY: dict[str, collections.deque[float]] = {}  # backend -> this service's queue
_FOLD_AT = Histogram.FOLD_AT
_LOCAL_RST, _LOCAL_TIMEOUT = ("local", "rst"), ("local", "timeout")


def _counter(cache: dict[str, dict[Any, Any]], table: Counts, backend: str, kind: Any) -> Any:
    """Return (and cache) the counter of this service, ``backend`` and ``kind`` in ``table``."""
    labels = (kind,) if isinstance(kind, str) else kind
    counter = table.cell((S.service, backend, *labels))
    cache.setdefault(backend, {})[kind] = counter
    return counter


def _count(table: Counts) -> None:
    next(table.cell((S.service, S.backend)))


def _observe(histogram: Histogram, name: str, key: tuple[str, ...], value: float) -> None:
    histogram.observe(key, value)
    for observe in S.observers:
        observe(name, key, value)


def _opened(conn: Any) -> None:
    if _FIN_AT or _TIMED_OUT:  # what a freed connection with this id may have left
        _FIN_AT.pop(id(conn), None)
        _TIMED_OUT.discard(id(conn))
    try:
        next(_OPENED_BY[conn.backend][conn.initiated_by])
    except KeyError:
        next(_counter(_OPENED_BY, S.opened, conn.backend, conn.initiated_by))


def _fired(conn: Any, old: ConnectionState, new: ConnectionState) -> None:
    if new is not _CLOSED:
        if new is _PEER_CLOSED and old is _OPEN:
            _FIN_AT[id(conn)] = monotonic()
        return
    kind = _CLOSE_KIND.get(conn.close_reason, _LOCAL_FIN)
    if kind is _LOCAL_FIN:
        if _TIMED_OUT and id(conn) in _TIMED_OUT:
            kind = _LOCAL_TIMEOUT
        elif conn._write_paused:
            kind = _LOCAL_RST  # unsent bytes are dropped: the kernel answers with a reset
    try:
        next(_CLOSES_BY[conn.backend][kind])
    except KeyError:
        next(_counter(_CLOSES_BY, S.closes, conn.backend, kind))
    if _FIN_AT:
        fin_at = _FIN_AT.pop(id(conn), None)
        if fin_at is not None:
            queue = _DWELL_BY.get(conn.backend)
            if queue is None or S.observers:
                _dwell(conn.backend, monotonic() - fin_at)
            else:  # _dwell's common case, inline: this is the hottest recorder
                queue.append(monotonic() - fin_at)
                if len(queue) > _FOLD_AT:
                    S.dwell.fold()
    if _TIMED_OUT:
        _TIMED_OUT.discard(id(conn))


def _dwell(backend: str, seconds: float) -> None:
    if S.observers:
        _observe(S.dwell, "dwell", (S.service, backend), seconds)
        return
    try:
        queue = _DWELL_BY[backend]
    except KeyError:
        queue = _DWELL_BY[backend] = S.dwell.queue((S.service, backend))
    queue.append(seconds)
    if len(queue) > _FOLD_AT:
        S.dwell.fold()


def _eof(conn: Any) -> None:
    next(S.eof.cell((S.service, conn.backend)))


def _read_timeout(conn: Any) -> None:
    _TIMED_OUT.add(id(conn))
    next(S.read_timeouts.cell((S.service, conn.backend)))


def _write_timeout(conn: Any) -> None:
    _TIMED_OUT.add(id(conn))
    next(S.write_timeouts.cell((S.service, conn.backend)))


def _pool_created(pool: ConnectionPool, backend: str | None) -> None:
    # A pool made outside any run will run on this process's backend.
    S.pools[pool] = backend or S.backend
    weakref.finalize(pool, _retire, (pool.name, backend or S.backend), pool._stats)


def _retire(key: tuple[str, str], stats: dict[str, int]) -> None:
    totals = S.retired[key]
    for counter, value in stats.items():
        totals[counter] += value


def _pool_waited(pool: ConnectionPool, seconds: float) -> None:
    key = (S.service, S.pools.get(pool, S.backend), pool.name)
    _observe(S.pool_wait, "pool_wait", key, seconds)


def _unhandled(exc: BaseException) -> None:
    _count(S.unhandled)


def _legacy_entered() -> None:
    _count(S.legacy_entered)


def _lag(backend: str, seconds: float) -> None:
    _observe(S.lag, "lag", (S.service, backend), seconds)


def _loop_monitor(clock: Clock, backend: str) -> Handle | None:
    if callable(getattr(clock, "call_soon_threadsafe", None)):
        return _LagProbe(clock, backend)
    return _LagTimer(clock, backend)


class _LagProbe:
    """Every ``LAG_INTERVAL`` s a helper thread posts a probe to the loop; lag is its wait.

    Why not a timer on the loop: a timer always pending makes every turn of a
    Python loop (legacy, asyncio) compute a select timeout from the timer heap
    and read the clock twice, about 8% of a loopback round trip. The probe
    sits in no heap; the loop pays one wake-up per interval. A probe still
    waiting when the next interval ends is not doubled: a stalled loop yields
    one sample, as long as the stall, when it runs again.
    """

    __slots__ = ("_backend", "_pending", "_post", "_stop", "_thread")

    def __init__(self, clock: Clock, backend: str) -> None:
        prepare = getattr(clock, "enable_threads", None)
        if prepare is not None:  # legacy: its call_soon_threadsafe needs a wake-up socket
            prepare()
        self._post: Callable[..., object] = clock.call_soon_threadsafe  # type: ignore[attr-defined]
        self._backend = backend
        self._pending = False
        self._stop = threading.Event()
        self._thread = threading.Thread(
            target=self._sample, name=f"shims-loop-lag {backend}", daemon=True
        )
        self._thread.start()

    def _sample(self) -> None:
        while not self._stop.wait(LAG_INTERVAL):
            if self._pending:
                continue  # the loop has not run the last probe yet: it is the sample
            self._pending = True
            try:
                self._post(self._arrived, monotonic())
            except RuntimeError:  # the loop closed between two checks of _stop
                return

    def _arrived(self, posted: float) -> None:
        self._pending = False
        if not self._stop.is_set():
            _lag(self._backend, monotonic() - posted)

    def cancel(self) -> None:
        self._stop.set()
        if self._thread is not threading.current_thread():
            self._thread.join(1.0)  # no probe is posted once cancel() returns


class _LagTimer:
    """For a clock with no ``call_soon_threadsafe``: a timer re-armed every ``LAG_INTERVAL`` s."""

    __slots__ = ("_backend", "_clock", "_due", "_handle")

    def __init__(self, clock: Clock, backend: str) -> None:
        self._clock = clock
        self._backend = backend
        self._due = monotonic() + LAG_INTERVAL
        self._handle: Handle | None = clock.call_later(LAG_INTERVAL, self._tick)

    def _tick(self) -> None:
        now = monotonic()
        _lag(self._backend, max(0.0, now - self._due))
        self._due = now + LAG_INTERVAL
        if self._handle is not None:
            self._handle = self._clock.call_later(LAG_INTERVAL, self._tick)

    def cancel(self) -> None:
        handle, self._handle = self._handle, None
        if handle is not None:
            handle.cancel()


# -- the hooks: bootstraps that decide on first call, then get out of the way ---


def configure(service: str | None, backend: str, source: str) -> None:
    """Record which backend this process runs, for which service and why (``shims.run``)."""
    if (service or "-") != S.service:
        _OPENED_BY.clear()  # the cached counters are the previous service's
        _CLOSES_BY.clear()
        _DWELL_BY.clear()
    S.service, S.backend, S.source = service or "-", backend, source_kind(source)
    S.decided_by = source
    if _decided and not _disabled():
        recording = bool(S.exporters)
        _add_exporters()  # an OpenTelemetry SDK set up since the last decision records from now
        if S.exporters and not recording:
            bind(recording=True)
    _setup()
    if S.exporters:
        _precreate(S.service, backend)


def _precreate(service: str, backend: str) -> None:
    """Make every series this process will have exist (at 0) from the first scrape on."""
    for initiated_by, hows in CLOSE_KINDS.items():
        S.opened.cell((service, backend, initiated_by))
        for how in hows:
            S.closes.cell((service, backend, initiated_by, how))
    for table in (S.eof, S.read_timeouts, S.write_timeouts, S.unhandled, S.legacy_entered):
        table.cell((service, backend))
    S.dwell.queue((service, backend))
    S.lag.queue((service, backend))


def source_kind(source: str) -> str:
    """Reduce a ``BackendDecision.source`` to a label: argument, environment, rollout, config, default."""
    if source.startswith("argument"):
        return "argument"
    if source.startswith("environment"):
        return "environment"
    if "(rollout" in source:
        return "rollout"
    if source.startswith("built-in default") or source == "-":
        return "default" if source != "-" else "-"
    return "config"


def _bootstrap(name: str) -> Callable[..., Any]:
    def first_call(*args: Any) -> Any:
        _setup()
        return _HOOKS[name](*args)

    first_call.__name__ = name
    return first_call


_RECORDERS: dict[str, Callable[..., Any]] = {
    "opened": _opened,
    "fired": _fired,
    "eof": _eof,
    "read_timeout": _read_timeout,
    "write_timeout": _write_timeout,
    "pool_created": _pool_created,
    "pool_waited": _pool_waited,
    "unhandled": _unhandled,
    "legacy_entered": _legacy_entered,
    "loop_monitor": _loop_monitor,
}
_HOOKS: dict[str, Callable[..., Any]] = {name: _bootstrap(name) for name in _RECORDERS}
_bootstrap_opened = _HOOKS["opened"]

opened = _HOOKS["opened"]  # (conn) a connection was made or accepted
fired = _HOOKS["fired"]  # (conn, old, new) a state change; closes and CLOSE_WAIT dwell
eof = _HOOKS["eof"]  # (conn) PeerClosedError is about to reach a caller
read_timeout = _HOOKS["read_timeout"]  # (conn)
write_timeout = _HOOKS["write_timeout"]  # (conn)
pool_created = _HOOKS["pool_created"]  # (pool, backend or None)
pool_waited = _HOOKS["pool_waited"]  # (pool, seconds) acquire waited for a slot or a connect
unhandled = _HOOKS["unhandled"]  # (exc) a task error nobody retrieved
legacy_entered = _HOOKS["legacy_entered"]  # () the tripwire (see _guards)
loop_monitor = _HOOKS["loop_monitor"]  # (clock, backend) -> handle with cancel(), or None


def _unhandled_noted(exc: BaseException) -> None:
    unhandled(exc)  # whatever the hook is bound to now


_diagnostics.UNHANDLED_LISTENERS.append(_unhandled_noted)
