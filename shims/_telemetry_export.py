"""Where shim telemetry goes: prometheus_client's default registry and the OpenTelemetry API.

Theory of operation: this module is imported only when telemetry is on
(``_telemetry._setup``), and imports each exporter's library only if it is
installed. The hooks count into ``_telemetry_state``'s tables; both
exporters read those tables when they are collected, so recording costs the
same whichever is installed. Prometheus names and labels are the contract
of DESIGN.md ("Telemetry and the cohort judge"); every series a process will
need exists from its ``shims.run`` on (at 0), so a Prometheus query sees
every metric of every instance. The OpenTelemetry exporter uses the
semantic-convention names where they exist
(``db.client.connection.count{db.client.connection.state}``,
``db.client.connection.wait_time``, ``db.client.connection.timeouts``,
attribute ``db.client.connection.pool.name``) and ``shims.*`` otherwise. It
is used only once an SDK ``MeterProvider`` is installed (the API's default
provider drops everything, so recording into it is pure cost): one set up
before ``shims.run`` (or before the first connection) records from then on.
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
from collections.abc import Callable, Iterator
from typing import Any, Protocol

from . import _telemetry_state
from ._telemetry_state import S, snapshot

__all__ = ["Exporter", "available_exporters"]

Observer = Callable[[str, tuple[str, ...], float], None]


class Exporter(Protocol):
    @property
    def observe(self) -> Observer | None:
        """Called with (histogram name, label values, value) at each histogram observation,
        for an exporter that records them as they happen; None for one that reads
        _telemetry_state's tables when collected."""


def _installed(name: str) -> bool:
    try:
        return importlib.util.find_spec(name) is not None
    except (ImportError, ValueError):
        return False


def available_exporters(current: list[Exporter]) -> list[Exporter]:
    """Return ``current`` plus an exporter for each library installed (and set up) not in it."""
    found = list(current)
    kinds: set[type] = {type(exporter) for exporter in current}
    if PrometheusExporter not in kinds and _installed("prometheus_client"):
        with contextlib.suppress(ImportError):
            found.append(PrometheusExporter())
    if OtelExporter not in kinds and _installed("opentelemetry") and _otel_configured():
        with contextlib.suppress(ImportError):
            found.append(OtelExporter())
    return found


def _otel_configured() -> bool:
    """Return True if a MeterProvider other than the API's own (proxy, no-op) is installed."""
    try:
        from opentelemetry import metrics
    except ImportError:
        return False
    provider = metrics.get_meter_provider()
    return not type(provider).__module__.startswith("opentelemetry.metrics")


SB = ("service", "backend")
# (Prometheus name, help, label names, table name in _telemetry_state.S)
COUNTERS = (
    ("shims_connections_opened", "Connections made (local) or accepted (peer)",
     (*SB, "initiated_by"), "opened"),
    ("shims_connection_closes", "Closes by who initiated them and how",
     (*SB, "initiated_by", "how"), "closes"),
    ("shims_eof_to_caller", "PeerClosedError raised to a caller", SB, "eof"),
    ("shims_read_timeouts", "Reads that hit their deadline", SB, "read_timeouts"),
    ("shims_write_timeouts", "Writes that hit their deadline", SB, "write_timeouts"),
    ("shims_unhandled_errors", "Task errors nobody retrieved", SB, "unhandled"),
    ("shims_legacy_entered",
     "legacy.runtime entered in a process whose service resolved to another backend", SB,
     "legacy_entered"),
)  # fmt: skip
HISTOGRAMS = (
    ("shims_peer_closed_seconds", "Time from the peer's close to ours (CLOSE_WAIT dwell)",
     SB, "dwell"),
    ("shims_pool_wait_seconds", "Time an acquire waited for a free slot or a new connection",
     (*SB, "pool"), "pool_wait"),
    ("shims_loop_lag_seconds", "How long the loop took to run a probe posted to it (scheduler lag)",
     SB, "lag"),
)  # fmt: skip


class PrometheusExporter:
    """Metrics in prometheus_client's default registry (``start_http_server`` exposes them)."""

    observe: Observer | None = None

    def __init__(self) -> None:
        from prometheus_client import REGISTRY

        REGISTRY.register(_Collector())


def _created_series() -> bool:
    # prometheus_client's own switch for the ``_created`` samples of its metrics.
    return os.environ.get("PROMETHEUS_DISABLE_CREATED_SERIES", "False").lower() not in (
        "true", "1", "t",
    )  # fmt: skip


class _Collector:
    """Every shims_* metric, read from ``_telemetry_state`` and ``pool.stats()`` when scraped."""

    def describe(self) -> list[Any]:
        return []  # no up-front description: collect() runs only at scrape time

    def collect(self) -> Iterator[Any]:
        from prometheus_client.core import (
            CounterMetricFamily,
            GaugeMetricFamily,
            HistogramMetricFamily,
        )
        from prometheus_client.samples import Sample
        from prometheus_client.utils import floatToGoString

        created = _created_series()
        info = GaugeMetricFamily(
            "shims_backend_info", "Backend this process runs and where the flag came from",
            labels=[*SB, "source"],
        )  # fmt: skip
        if S.backend != "-":
            info.add_metric([S.service, S.backend, S.source], 1.0)
        yield info
        for name, doc, labels, table in COUNTERS:
            counter = CounterMetricFamily(name, doc, labels=labels)
            for key, value, since in snapshot(getattr(S, table)):
                counter.add_metric(key, float(value), created=since if created else None)
            yield counter
        for name, doc, labels, table in HISTOGRAMS:
            histogram = getattr(S, table)
            les = [floatToGoString(b) for b in histogram.bounds] + ["+Inf"]  # type: ignore[no-untyped-call]
            family = HistogramMetricFamily(name, doc, labels=labels)
            for key, cumulative, total in histogram.rows():
                family.add_metric(key, list(zip(les, cumulative, strict=True)), total)
                since = histogram.created.get(key)
                if created and since is not None:
                    where = dict(zip(labels, key, strict=True))
                    family.samples.append(Sample(f"{name}_created", where, since, None))
            yield family
        yield from _pool_families()


def _pool_families() -> Iterator[Any]:
    """Pool occupancy and counters, read from every pool's ``stats()``."""
    from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

    labels = ["service", "backend", "pool"]
    occupancy = GaugeMetricFamily(
        "shims_pool_connections", "Pool occupancy", labels=[*labels, "state"]
    )
    timeouts = CounterMetricFamily(
        "shims_pool_wait_timeouts", "Acquire deadlines hit", labels=labels
    )
    discards = CounterMetricFamily(
        "shims_pool_discards",
        "Connections a pool closed, by reason",
        labels=[*labels, "reason"],
    )
    dead = CounterMetricFamily(
        "shims_pool_dead_at_checkout", "Connections found dead when about to be handed out",
        labels=labels,
    )  # fmt: skip
    service = S.service
    for (pool, backend), stats in _telemetry_state.pool_totals():
        where = [service, backend, pool]
        occupancy.add_metric([*where, "idle"], stats.get("idle", 0))
        occupancy.add_metric([*where, "used"], stats.get("in_use", 0))
        timeouts.add_metric(where, stats.get("wait_timeouts", 0))
        dead.add_metric(where, stats.get("dead_at_checkout", 0))
        for reason in _telemetry_state.POOL_REASONS:
            discards.add_metric([*where, reason], pool_discards(stats, reason))
    yield from (occupancy, timeouts, discards, dead)


def pool_discards(stats: dict[str, int], reason: str) -> int:
    """Return the discards for ``reason``; ``stats``' expired count includes the idle ones."""
    if reason == "expired":
        return stats.get("discarded_expired", 0) - stats.get("discarded_idle", 0)
    return stats.get(f"discarded_{reason}", 0)


# (table in _telemetry_state.S, attribute names of the labels after service and backend,
# extra attributes) that an OpenTelemetry counter reports
_Tables = list[tuple[str, tuple[str, ...], dict[str, str]]]


class OtelExporter:
    """Metrics through the OpenTelemetry API (semantic-convention names where they exist).

    Counters are observable counters reading the cumulative totals at
    collection; histograms are recorded as they happen (``observe``).
    """

    def __init__(self) -> None:
        from opentelemetry import metrics

        meter = metrics.get_meter("shims")
        self._observation = metrics.Observation
        counted: tuple[tuple[str, str, _Tables], ...] = (
            ("shims.connection.opened", "{connection}", [("opened", ("initiated_by",), {})]),
            ("shims.connection.closes", "{connection}",
             [("closes", ("initiated_by", "how"), {})]),
            ("shims.connection.eof_to_caller", "{error}", [("eof", (), {})]),
            ("shims.connection.timeouts", "{timeout}",
             [("read_timeouts", (), {"direction": "read"}),
              ("write_timeouts", (), {"direction": "write"})]),
            ("shims.unhandled_errors", "{error}", [("unhandled", (), {})]),
            ("shims.legacy_entered", "{event}", [("legacy_entered", (), {})]),
        )  # fmt: skip
        for name, unit, tables in counted:
            meter.create_observable_counter(name, [self._totals(tables)], unit)
        self._histograms = {
            "dwell": meter.create_histogram("shims.connection.peer_closed.duration", "s"),
            "pool_wait": meter.create_histogram("db.client.connection.wait_time", "s"),
            "lag": meter.create_histogram("shims.loop.lag", "s"),
        }
        meter.create_observable_up_down_counter(
            "db.client.connection.count", [self._count], "{connection}"
        )
        meter.create_observable_counter(
            "db.client.connection.timeouts", [self._pool_timeouts], "{timeout}"
        )
        meter.create_observable_counter("shims.pool.discards", [self._discards], "{connection}")
        meter.create_observable_counter("shims.pool.dead_at_checkout", [self._dead], "{connection}")
        meter.create_observable_gauge("shims.backend.info", [self._info], "1")

    @staticmethod
    def _attrs(service: str, backend: str, **more: str) -> dict[str, str]:
        return {"shims.service": service, "shims.backend": backend, **more}

    def _totals(self, tables: _Tables) -> Callable[[Any], list[Any]]:
        def observe(options: Any) -> list[Any]:
            return [
                self._observation(value, self._attrs(
                    key[0], key[1], **dict(zip(names, key[2:], strict=True)), **extra))
                for table, names, extra in tables
                for key, value, _ in snapshot(getattr(S, table))
            ]  # fmt: skip

        return observe

    def observe(self, name: str, key: tuple[str, ...], value: float) -> None:
        more = {"db.client.connection.pool.name": key[2]} if name == "pool_wait" else {}
        self._histograms[name].record(value, self._attrs(key[0], key[1], **more))

    def _pools(self, key: str, **more: str) -> list[Any]:
        return [
            self._observation(stats.get(key, 0), self._attrs(
                S.service, backend, **{"db.client.connection.pool.name": name}, **more))
            for (name, backend), stats in _telemetry_state.pool_totals()
        ]  # fmt: skip

    def _count(self, options: Any) -> list[Any]:
        return self._pools("idle", **{"db.client.connection.state": "idle"}) + self._pools(
            "in_use", **{"db.client.connection.state": "used"}
        )

    def _pool_timeouts(self, options: Any) -> list[Any]:
        return self._pools("wait_timeouts")

    def _dead(self, options: Any) -> list[Any]:
        return self._pools("dead_at_checkout")

    def _discards(self, options: Any) -> list[Any]:
        return [
            self._observation(pool_discards(stats, reason), self._attrs(
                S.service, backend, **{"db.client.connection.pool.name": name}, reason=reason))
            for (name, backend), stats in _telemetry_state.pool_totals()
            for reason in _telemetry_state.POOL_REASONS
        ]  # fmt: skip

    def _info(self, options: Any) -> list[Any]:
        return [self._observation(1, self._attrs(S.service, S.backend, source=S.source))]
