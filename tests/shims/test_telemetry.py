"""Shim telemetry on every backend: the same events give the same counts, on real sockets."""

from __future__ import annotations

from typing import Any

import pytest
from child_python import python
from prometheus_client import REGISTRY

import shims
from shims import _diagnostics, _telemetry

SERVICE = "telemetry-test"


def value(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


def snapshot(backend: str) -> dict[str, float]:
    """The values the scenario below moves, for this service and backend."""
    sb = {"service": SERVICE, "backend": backend}
    pool = {**sb, "pool": "tele"}
    # Pool metrics carry the process's current backend label.
    return {
        "opened local": value("shims_connections_opened_total", **sb, initiated_by="local"),
        "opened peer": value("shims_connections_opened_total", **sb, initiated_by="peer"),
        "closes local timeout": value(
            "shims_connection_closes_total", **sb, initiated_by="local", how="timeout"
        ),
        "closes peer fin": value(
            "shims_connection_closes_total", **sb, initiated_by="peer", how="fin"
        ),
        "dwell count": value("shims_peer_closed_seconds_count", **sb),
        "eof": value("shims_eof_to_caller_total", **sb),
        "read timeouts": value("shims_read_timeouts_total", **sb),
        "write timeouts": value("shims_write_timeouts_total", **sb),
        "dead at checkout": value("shims_pool_dead_at_checkout_total", **pool),
        "wait timeouts": value("shims_pool_wait_timeouts_total", **pool),
        "discards dead": value("shims_pool_discards_total", **pool, reason="dead"),
        "discards closed": value("shims_pool_discards_total", **pool, reason="closed"),
        "pool waits": value("shims_pool_wait_seconds_count", **pool),
        "lag count": value("shims_loop_lag_seconds_count", **sb),
        "unhandled": value("shims_unhandled_errors_total", **sb),
    }


async def until(predicate: Any, within: float = 5.0) -> None:
    deadline = shims.monotonic() + within
    while not predicate():
        assert shims.monotonic() < deadline, "condition not reached in time"
        await shims.sleep(0.005)


async def scenario() -> None:
    go = shims.Event()

    async def lines(conn: shims.Connection) -> None:
        """Echo lines; after ``close-later`` wait for ``go``, then close (never an EOF error)."""
        buf = b""
        while data := await conn.read_some(timeout=10):
            buf += data
            while b"\n" in buf:
                line, _, buf = buf.partition(b"\n")
                await conn.write(line + b"\n", timeout=5)
                if line == b"close-later":
                    await go.wait()
                    return

    async def silent(conn: shims.Connection) -> None:
        await conn.read_some(timeout=10)  # b"" once the client closes

    async def not_reading(conn: shims.Connection) -> None:
        await shims.sleep(30)  # cancelled by server.close()

    answer = await shims.serve(lines, "127.0.0.1", 0)
    quiet = await shims.serve(silent, "127.0.0.1", 0)
    stuck = await shims.serve(not_reading, "127.0.0.1", 0)
    pool = shims.ConnectionPool(
        lambda: shims.connect("127.0.0.1", answer.port, timeout=5), max_size=1, name="tele"
    )
    try:
        async with pool.acquire(timeout=5) as first:
            await first.write(b"close-later\n", timeout=5)
            assert await first.read_until(b"\n", timeout=5) == b"close-later\n"
        go.set()
        await until(first.closed)  # the server's FIN, while idle in the pool
        async with pool.acquire(timeout=5) as second:  # dead at checkout, replaced
            assert second is not first
            await second.write(b"b\n", timeout=5)
            assert await second.read_until(b"\n", timeout=5) == b"b\n"
            with pytest.raises(shims.ConnectTimeout):
                async with pool.acquire(timeout=0.05):
                    pass
        await pool.close()

        eof = await shims.connect("127.0.0.1", answer.port, timeout=5)
        await eof.write(b"close-later\n", timeout=5)
        await eof.read_until(b"\n", timeout=5)
        with pytest.raises(shims.PeerClosedError):
            await eof.read_exactly(1, timeout=5)
        eof.close()

        slow = await shims.connect("127.0.0.1", quiet.port, timeout=5)
        with pytest.raises(shims.ReadTimeout):
            await slow.read_exactly(1, timeout=0.05)
        slow.close()

        blocked = await shims.connect("127.0.0.1", stuck.port, timeout=5)
        with pytest.raises(shims.WriteTimeout):
            await blocked.write(b"x" * (32 << 20), timeout=0.2)
        blocked.close()

        async def fails() -> None:
            raise ValueError("nobody retrieves this")

        shims.spawn(fails())
        await shims.sleep(0.6)  # the lag monitor ticks every 0.25 s
    finally:
        for server in (answer, quiet, stuck):
            server.close()
            await server.wait_closed()


def test_the_same_events_give_the_same_counts_on_every_backend(backend: str) -> None:
    before = snapshot(backend)
    shims.run(scenario, service=SERVICE, backend=backend)
    after = snapshot(backend)
    _diagnostics.UNHANDLED.clear()
    delta = {key: after[key] - before[key] for key in before}
    assert delta["opened local"] == 5 and delta["opened peer"] == 5, delta
    assert delta["eof"] == 1, delta
    assert delta["read timeouts"] == 1 and delta["write timeouts"] == 1, delta
    assert delta["closes local timeout"] == 2, delta
    assert delta["closes peer fin"] >= 2 and delta["dwell count"] >= 2, delta
    assert delta["dead at checkout"] == 1 and delta["discards dead"] == 1, delta
    assert delta["wait timeouts"] == 1 and delta["discards closed"] == 1, delta
    assert delta["pool waits"] == 3, delta  # two connects and one wait for a slot
    assert delta["lag count"] >= 2, delta
    assert delta["unhandled"] == 1, delta
    assert value("shims_backend_info", service=SERVICE, backend=backend, source="argument") == 1
    pool = {"service": SERVICE, "backend": backend, "pool": "tele"}
    assert value("shims_pool_connections", **pool, state="idle") == 0
    assert value("shims_pool_connections", **pool, state="used") == 0


def test_source_label_says_where_the_flag_came_from() -> None:
    kinds = {
        "argument backend='asyncio'": "argument",
        "environment MIGRATE_BACKEND_DOCS": "environment",
        "/x/pyproject.toml [tool.migrate.services.docs]": "config",
        "/x/pyproject.toml [tool.migrate.services.docs] (rollout 10%: instance 'a' in)": "rollout",
        "built-in default": "default",
        "/x/migrate.toml default_backend": "config",
    }
    assert {s: _telemetry.source_kind(s) for s in kinds} == kinds


EXERCISE = """
import shims

async def main():
    async def echo(conn):
        await conn.write(await conn.read_exactly(1, timeout=5), timeout=5)
    server = await shims.serve(echo, "127.0.0.1", 0)
    pool = shims.ConnectionPool(lambda: shims.connect("127.0.0.1", server.port, timeout=5))
    async with pool.acquire(timeout=5) as conn:
        await conn.write(b"x", timeout=5)
        await conn.read_exactly(1, timeout=5)
    await pool.close()
    server.close()
    await server.wait_closed()

shims.run(main, service="quiet", backend="asyncio")
"""


def test_without_either_library_nothing_is_imported_or_recorded() -> None:
    blocker = """
    import sys

    class Block:
        def find_spec(self, name, path=None, target=None):
            if name.split(".")[0] in ("prometheus_client", "opentelemetry"):
                raise ImportError(f"{name} is blocked for this test")
            return None

    sys.meta_path.insert(0, Block())
    """
    check = """
    from shims import _telemetry
    loaded = sorted(m for m in sys.modules if m.split(".")[0] in ("prometheus_client", "opentelemetry"))
    print(_telemetry.enabled(), loaded, _telemetry.opened.__name__)
    """
    proc = python(blocker, EXERCISE, check)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == ["False", "[]", "_nothing"]


def test_migrate_metrics_0_turns_recording_off() -> None:
    proc = python(
        EXERCISE,
        "import sys\nfrom shims import _telemetry\n"
        "print(_telemetry.enabled(), 'prometheus_client' in sys.modules)\n",
        MIGRATE_METRICS="0",
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == ["False", "False"]


def test_opentelemetry_gets_semantic_convention_names() -> None:
    proc = python(
        """
        from opentelemetry import metrics
        from opentelemetry.sdk.metrics import MeterProvider
        from opentelemetry.sdk.metrics.export import InMemoryMetricReader

        reader = InMemoryMetricReader()
        metrics.set_meter_provider(MeterProvider(metric_readers=[reader]))
        """,
        EXERCISE,
        """
        points = {}
        for rm in reader.get_metrics_data().resource_metrics:
            for sm in rm.scope_metrics:
                for m in sm.metrics:
                    for p in m.data.data_points:
                        points.setdefault(m.name, []).append(dict(p.attributes))
        for name in sorted(points):
            print(name, sorted(points[name], key=repr)[0])
        """,
    )
    assert proc.returncode == 0, proc.stderr
    lines = dict(line.split(" ", 1) for line in proc.stdout.splitlines())
    assert "db.client.connection.state" in lines["db.client.connection.count"]
    assert "'db.client.connection.pool.name': 'default'" in lines["db.client.connection.count"]
    assert "db.client.connection.wait_time" in lines
    assert "'initiated_by': 'local'" in lines["shims.connection.opened"]
    assert "'shims.service': 'quiet'" in lines["shims.connection.opened"]
    assert "'source': 'argument'" in lines["shims.backend.info"]
    assert "shims.loop.lag" in lines or "shims.connection.closes" in lines


def test_a_truncated_tls_stream_counts_as_the_peer_closing(backend: str, tls_certs: Any) -> None:
    """A FIN with no close_notify (what a TCP proxy in front of a TLS server sends) is peer/fin."""
    import socket
    import threading

    listener = socket.create_server(("127.0.0.1", 0))
    listener.settimeout(10)

    def serve() -> None:
        raw, _ = listener.accept()
        with tls_certs.server_context().wrap_socket(raw, server_side=True) as tls:
            tls.sendall(b"x")
            tls.shutdown(socket.SHUT_WR)  # the socket's FIN, no TLS close_notify
            tls.recv(1)

    peer = threading.Thread(target=serve, daemon=True)
    peer.start()

    async def main() -> str | None:
        conn = await shims.connect(
            "127.0.0.1",
            listener.getsockname()[1],
            ssl=tls_certs.client_context(),
            server_hostname="localhost",
            timeout=10,
        )
        assert await conn.read_exactly(1, timeout=10) == b"x"
        await until(conn.closed)
        conn.close()
        return conn.close_reason

    sb = {"service": SERVICE, "backend": backend}
    before = value("shims_connection_closes_total", **sb, initiated_by="peer", how="fin")
    try:
        assert shims.run(main, service=SERVICE, backend=backend) == "truncated"
    finally:
        peer.join(10)
        listener.close()
    after = value("shims_connection_closes_total", **sb, initiated_by="peer", how="fin")
    assert after - before == 1
