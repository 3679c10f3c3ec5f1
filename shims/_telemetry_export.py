"""Where shim telemetry goes: prometheus_client's default registry and the OpenTelemetry API.

Theory of operation: this module is imported only when telemetry is on
(``_telemetry._setup``), and imports each exporter's library only if it is
installed. Prometheus names and labels are the contract of DESIGN.md
("Telemetry and the cohort judge"); every labelled child a process will
need is created up front, so each series exists (at 0) from the first
scrape and a Prometheus query sees every metric of every instance. The
OpenTelemetry exporter uses the semantic-convention names where they exist
(``db.client.connection.count{db.client.connection.state}``,
``db.client.connection.wait_time``, ``db.client.connection.timeouts``,
attribute ``db.client.connection.pool.name``) and ``shims.*`` otherwise;
it records through whatever meter provider the application installed (the
API's default does nothing).
"""

from __future__ import annotations

import contextlib
import importlib.util
from collections.abc import Iterator
from typing import Any, Protocol

from . import _telemetry_state

__all__ = ["Exporter", "available_exporters"]

LAG_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)
DWELL_BUCKETS = (0.001, 0.01, 0.1, 0.5, 1.0, 5.0, 10.0, 30.0, 60.0, 300.0, 1800.0)
WAIT_BUCKETS = (0.0001, 0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1.0, 5.0, 10.0)
# The closes that can happen: we close (fin, rst, timeout) or the peer or network does.
CLOSE_KINDS = {"local": ("fin", "rst", "timeout"), "peer": ("fin", "rst", "error")}


class Exporter(Protocol):
    def info(self, service: str, backend: str, source: str) -> None: ...
    def opened(self, service: str, backend: str, initiated_by: str) -> None: ...
    def closed(
        self, service: str, backend: str, initiated_by: str, how: str, dwell: float | None
    ) -> None: ...
    def eof(self, service: str, backend: str) -> None: ...
    def timeout(self, service: str, backend: str, which: str) -> None: ...
    def pool_wait(self, service: str, backend: str, pool: str, seconds: float) -> None: ...
    def lag(self, service: str, backend: str, seconds: float) -> None: ...
    def unhandled(self, service: str, backend: str) -> None: ...
    def legacy_entered(self, service: str, backend: str) -> None: ...


def _installed(name: str) -> bool:
    try:
        return importlib.util.find_spec(name) is not None
    except (ImportError, ValueError):
        return False


def available_exporters() -> list[Exporter]:
    """Return an exporter for each installed library (prometheus_client, opentelemetry)."""
    found: list[Exporter] = []
    if _installed("prometheus_client"):
        with contextlib.suppress(ImportError):
            found.append(PrometheusExporter())
    if _installed("opentelemetry"):
        with contextlib.suppress(ImportError):
            found.append(OtelExporter())
    return found


class PrometheusExporter:
    """Metrics in prometheus_client's default registry (``start_http_server`` exposes them)."""

    def __init__(self) -> None:
        from prometheus_client import REGISTRY, Counter, Gauge, Histogram

        sb = ("service", "backend")
        self._info = Gauge(
            "shims_backend_info", "Backend this process runs and where the flag came from",
            [*sb, "source"],
        )  # fmt: skip
        self._opened = Counter(
            "shims_connections_opened", "Connections made (local) or accepted (peer)",
            [*sb, "initiated_by"],
        )  # fmt: skip
        self._closes = Counter(
            "shims_connection_closes", "Closes by who initiated them and how",
            [*sb, "initiated_by", "how"],
        )  # fmt: skip
        self._dwell = Histogram(
            "shims_peer_closed_seconds", "Time from the peer's close to ours (CLOSE_WAIT dwell)",
            sb, buckets=DWELL_BUCKETS,
        )  # fmt: skip
        self._eof = Counter("shims_eof_to_caller", "PeerClosedError raised to a caller", sb)
        self._read = Counter("shims_read_timeouts", "Reads that hit their deadline", sb)
        self._write = Counter("shims_write_timeouts", "Writes that hit their deadline", sb)
        self._wait = Histogram(
            "shims_pool_wait_seconds",
            "Time an acquire waited for a free slot or a new connection",
            [*sb, "pool"], buckets=WAIT_BUCKETS,
        )  # fmt: skip
        self._lag = Histogram(
            "shims_loop_lag_seconds", "How late a periodic timer fired (scheduler lag)",
            sb, buckets=LAG_BUCKETS,
        )  # fmt: skip
        self._unhandled = Counter("shims_unhandled_errors", "Task errors nobody retrieved", sb)
        self._legacy = Counter(
            "shims_legacy_entered",
            "legacy.runtime entered in a process whose service resolved to another backend", sb,
        )  # fmt: skip
        self._children: dict[tuple[object, ...], Any] = {}
        REGISTRY.register(_PoolCollector())

    def _child(self, metric: Any, *labels: str) -> Any:
        key = (id(metric), *labels)
        child = self._children.get(key)
        if child is None:
            child = self._children[key] = metric.labels(*labels)
        return child

    def info(self, service: str, backend: str, source: str) -> None:
        self._info.clear()
        self._info.labels(service, backend, source).set(1)
        # Every series this process will have exists from the first scrape on.
        for who, hows in CLOSE_KINDS.items():
            self._child(self._opened, service, backend, who)
            for how in hows:
                self._child(self._closes, service, backend, who, how)
        for metric in (self._dwell, self._eof, self._read, self._write, self._lag,
                       self._unhandled, self._legacy):  # fmt: skip
            self._child(metric, service, backend)

    def opened(self, service: str, backend: str, initiated_by: str) -> None:
        self._child(self._opened, service, backend, initiated_by).inc()

    def closed(
        self, service: str, backend: str, initiated_by: str, how: str, dwell: float | None
    ) -> None:
        self._child(self._closes, service, backend, initiated_by, how).inc()
        if dwell is not None:
            self._child(self._dwell, service, backend).observe(dwell)

    def eof(self, service: str, backend: str) -> None:
        self._child(self._eof, service, backend).inc()

    def timeout(self, service: str, backend: str, which: str) -> None:
        self._child(self._read if which == "read" else self._write, service, backend).inc()

    def pool_wait(self, service: str, backend: str, pool: str, seconds: float) -> None:
        self._child(self._wait, service, backend, pool).observe(seconds)

    def lag(self, service: str, backend: str, seconds: float) -> None:
        self._child(self._lag, service, backend).observe(seconds)

    def unhandled(self, service: str, backend: str) -> None:
        self._child(self._unhandled, service, backend).inc()

    def legacy_entered(self, service: str, backend: str) -> None:
        self._child(self._legacy, service, backend).inc()


class _PoolCollector:
    """Pool occupancy and counters, read from every pool's ``stats()`` at scrape time."""

    def describe(self) -> list[Any]:
        return []  # no up-front description: collect() runs only at scrape time

    def collect(self) -> Iterator[Any]:
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
        service = _telemetry_state.S.service
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


class OtelExporter:
    """Metrics through the OpenTelemetry API (semantic-convention names where they exist)."""

    def __init__(self) -> None:
        from opentelemetry import metrics

        meter = metrics.get_meter("shims")
        self._opened = meter.create_counter("shims.connection.opened", "{connection}")
        self._closes = meter.create_counter("shims.connection.closes", "{connection}")
        self._dwell = meter.create_histogram("shims.connection.peer_closed.duration", "s")
        self._eof = meter.create_counter("shims.connection.eof_to_caller", "{error}")
        self._timeouts = meter.create_counter("shims.connection.timeouts", "{timeout}")
        self._wait = meter.create_histogram("db.client.connection.wait_time", "s")
        self._lag = meter.create_histogram("shims.loop.lag", "s")
        self._unhandled = meter.create_counter("shims.unhandled_errors", "{error}")
        self._legacy = meter.create_counter("shims.legacy_entered", "{event}")
        meter.create_observable_up_down_counter(
            "db.client.connection.count", [self._count], "{connection}"
        )
        meter.create_observable_counter(
            "db.client.connection.timeouts", [self._pool_timeouts], "{timeout}"
        )
        meter.create_observable_counter("shims.pool.discards", [self._discards], "{connection}")
        meter.create_observable_counter("shims.pool.dead_at_checkout", [self._dead], "{connection}")
        meter.create_observable_gauge("shims.backend.info", [self._info], "1")
        self._observation = metrics.Observation

    @staticmethod
    def _attrs(service: str, backend: str, **more: str) -> dict[str, str]:
        return {"shims.service": service, "shims.backend": backend, **more}

    def _pools(self, key: str, **more: str) -> list[Any]:
        s = _telemetry_state.S
        return [
            self._observation(stats.get(key, 0), self._attrs(
                s.service, backend, **{"db.client.connection.pool.name": name}, **more))
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
        s = _telemetry_state.S
        return [
            self._observation(pool_discards(stats, reason), self._attrs(
                s.service, backend, **{"db.client.connection.pool.name": name}, reason=reason))
            for (name, backend), stats in _telemetry_state.pool_totals()
            for reason in _telemetry_state.POOL_REASONS
        ]  # fmt: skip

    def _info(self, options: Any) -> list[Any]:
        s = _telemetry_state.S
        return [self._observation(1, self._attrs(s.service, s.backend, source=s.source))]

    def info(self, service: str, backend: str, source: str) -> None:
        pass  # observed at collection time (_info)

    def opened(self, service: str, backend: str, initiated_by: str) -> None:
        self._opened.add(1, self._attrs(service, backend, initiated_by=initiated_by))

    def closed(
        self, service: str, backend: str, initiated_by: str, how: str, dwell: float | None
    ) -> None:
        self._closes.add(1, self._attrs(service, backend, initiated_by=initiated_by, how=how))
        if dwell is not None:
            self._dwell.record(dwell, self._attrs(service, backend))

    def eof(self, service: str, backend: str) -> None:
        self._eof.add(1, self._attrs(service, backend))

    def timeout(self, service: str, backend: str, which: str) -> None:
        self._timeouts.add(1, self._attrs(service, backend, direction=which))

    def pool_wait(self, service: str, backend: str, pool: str, seconds: float) -> None:
        attrs = self._attrs(service, backend, **{"db.client.connection.pool.name": pool})
        self._wait.record(seconds, attrs)

    def lag(self, service: str, backend: str, seconds: float) -> None:
        self._lag.record(seconds, self._attrs(service, backend))

    def unhandled(self, service: str, backend: str) -> None:
        self._unhandled.add(1, self._attrs(service, backend))

    def legacy_entered(self, service: str, backend: str) -> None:
        self._legacy.add(1, self._attrs(service, backend))
