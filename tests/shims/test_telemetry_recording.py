"""How telemetry records: exact counts across threads, histogram buckets, no timer on the loop."""

from __future__ import annotations

import asyncio
import threading

import pytest
from child_python import python

import shims
from shims import _telemetry, _telemetry_state
from shims._telemetry_state import Counts, Histogram, value


def test_counters_count_exactly_from_several_threads() -> None:
    counts = Counts()
    counter = counts.cell(("svc", "asyncio"))
    assert counts.cell(("svc", "asyncio")) is counter  # one counter per series

    def bump() -> None:
        for _ in range(50_000):
            next(counter)

    threads = [threading.Thread(target=bump) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert value(counter) == 200_000
    [(key, total, created)] = _telemetry_state.snapshot(counts)
    assert key == ("svc", "asyncio") and total == 200_000 and created is not None


def test_histogram_buckets_are_le_and_cumulative_and_fold_in_batches() -> None:
    hist = Histogram((0.1, 1.0))
    key = ("svc", "legacy")
    for seconds in (0.05, 0.1, 0.5, 1.0, 7.0):
        hist.observe(key, seconds)
    [(labels, cumulative, total)] = hist.rows()
    assert labels == key
    assert cumulative == [2, 4, 5]  # <= 0.1, <= 1.0, +Inf
    assert total == pytest.approx(8.65)
    queue = hist.queue(key)
    for _ in range(Histogram.FOLD_AT + 1):
        hist.observe(key, 0.2)
    assert not queue  # folded once past FOLD_AT: the queue does not grow without a reader
    assert hist.rows()[0][1] == [2, 4 + Histogram.FOLD_AT + 1, 5 + Histogram.FOLD_AT + 1]


def lag_count(service: str) -> float:
    from prometheus_client import REGISTRY

    labels = {"service": service, "backend": "asyncio"}
    return REGISTRY.get_sample_value("shims_loop_lag_seconds_count", labels) or 0.0


def test_the_lag_monitor_leaves_no_timer_pending_on_the_loop() -> None:
    """A timer always pending made every turn of asyncio's loop compute a select timeout."""

    async def main() -> tuple[int, float]:
        loop = asyncio.get_running_loop()
        pending = len(loop._scheduled)  # type: ignore[attr-defined]
        before = lag_count("lag-probe")
        await asyncio.sleep(3 * _telemetry.LAG_INTERVAL)
        return pending, lag_count("lag-probe") - before

    assert _telemetry.enabled()
    pending, samples = shims.run(main, service="lag-probe", backend="asyncio")
    assert pending == 0
    assert samples >= 2  # the probe posted from the helper thread still measures
    assert not [t for t in threading.enumerate() if t.name.startswith("shims-loop-lag")]


def test_a_clock_without_call_soon_threadsafe_gets_a_re_armed_timer() -> None:
    """A third-party backend's clock need not offer a thread-safe call: lag is still measured."""

    class OnlyTimers:
        def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
            self.loop = loop

        def create_future(self) -> asyncio.Future[object]:
            return self.loop.create_future()

        def call_later(self, delay: float, callback: object, *args: object) -> asyncio.TimerHandle:
            return self.loop.call_later(delay, callback, *args)  # type: ignore[arg-type]

    async def main() -> tuple[str, float]:
        before = lag_count("lag-timer")
        monitor = _telemetry.loop_monitor(OnlyTimers(asyncio.get_running_loop()), "asyncio")
        await asyncio.sleep(3 * _telemetry.LAG_INTERVAL)
        monitor.cancel()
        return type(monitor).__name__, lag_count("lag-timer") - before

    _telemetry.configure("lag-timer", "asyncio", "argument")
    kind, samples = asyncio.run(main())  # not shims.run: no probe of its own beside the timer
    assert kind == "_LagTimer" and samples >= 2


def test_opentelemetry_is_left_alone_until_an_sdk_provider_is_installed() -> None:
    """The API's default provider drops everything: recording into it would be pure cost."""
    proc = python(
        """
        import shims
        from shims import _telemetry
        from shims._telemetry_state import S

        async def main():
            async def echo(conn):
                await conn.write(await conn.read_exactly(1, timeout=5), timeout=5)
            server = await shims.serve(echo, "127.0.0.1", 0)
            conn = await shims.connect("127.0.0.1", server.port, timeout=5)
            await conn.write(b"x", timeout=5)
            await conn.read_exactly(1, timeout=5)
            conn.close()
            server.close()
            await server.wait_closed()

        shims.run(main, service="late", backend="asyncio")
        print(sorted(type(e).__name__ for e in S.exporters))

        from opentelemetry import metrics
        from opentelemetry.sdk.metrics import MeterProvider
        from opentelemetry.sdk.metrics.export import InMemoryMetricReader

        reader = InMemoryMetricReader()
        metrics.set_meter_provider(MeterProvider(metric_readers=[reader]))
        shims.run(main, service="late", backend="asyncio")  # the next run picks it up
        print(sorted(type(e).__name__ for e in S.exporters))
        opened = [
            (dict(p.attributes), p.value)
            for rm in reader.get_metrics_data().resource_metrics
            for sm in rm.scope_metrics
            for m in sm.metrics if m.name == "shims.connection.opened"
            for p in m.data.data_points
        ]
        print(sorted((a["initiated_by"], v) for a, v in opened))
        """
    )
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[0] == "['PrometheusExporter']"
    assert lines[1] == "['OtelExporter', 'PrometheusExporter']"
    # Counters are read from the shared tables: the run before the SDK counts too.
    assert lines[2] == "[('local', 2), ('peer', 2)]"
