"""The pool behind every FaultProxy fault: it hands out a working connection, or says why not."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

import shims
from shims.testing import FaultProxy, ParityRecorder
from shims.testing.conformance._peers import TIMEOUT, ask, eventually, outcome, pool_counters
from shims.testing.conformance._transports import Transport

pytestmark = pytest.mark.parity

Fault = Callable[[FaultProxy], None]

# Faults that end the pooled connection while it sits idle in the pool.
CLOSING: dict[str, Fault] = {
    "fin": lambda p: p.close_all(),
    "rst": lambda p: p.close_all(rst=True),
    "kill_one": lambda p: p.kill_one(),
    "half_close_to_client": lambda p: p.half_close("to_client"),
    "inject_and_close": lambda p: p.inject_and_close(b"ERR 1053 server shutdown\n"),
    "close_after_bytes": lambda p: p.close_after_bytes(8),
    "max_lifetime": lambda p: p.max_lifetime(0.05),
    "idle_timeout": lambda p: p.idle_timeout(0.05),
}

# Faults that stall a request: the block raises, the pool discards that connection.
STALLING: dict[str, Fault] = {
    "blackhole": lambda p: p.blackhole(),
    "stop_reading": lambda p: p.stop_reading(),
    "latency": lambda p: p.latency(1.0),
}

# Faults that only slow bytes down: the same connection keeps working.
SLOWING: dict[str, Fault] = {
    "bandwidth": lambda p: p.bandwidth(2000),
    "slice": lambda p: p.slice(1, delay=0.001),
    "small_latency": lambda p: p.latency(0.02),
}


def _pool(transport: Transport, proxy: FaultProxy, **options: Any) -> shims.ConnectionPool:
    async def connect() -> shims.Connection:
        return await transport.connect(proxy, timeout=TIMEOUT)

    return shims.ConnectionPool(connect, max_size=1, **options)


@pytest.mark.parametrize("fault", sorted(CLOSING))
async def test_pool_replaces_a_connection_the_proxy_closed(
    parity: ParityRecorder, transport: Transport, echo_proxy: FaultProxy, fault: str
) -> None:
    """Whatever closed the idle pooled connection, the next checkout works first time."""
    pool = _pool(transport, echo_proxy)
    try:
        async with pool.acquire(timeout=TIMEOUT) as first:
            parity.record("first", await ask(first, b"one"))
        CLOSING[fault](echo_proxy)
        parity.record("noticed", await eventually(first.closed))
        echo_proxy.clear()
        async with pool.acquire(timeout=TIMEOUT) as second:
            fresh = second is not first
            answer = await outcome(ask(second, b"two"))
        parity.record("first_reason", first.close_reason)
        parity.record("fresh", fresh)
        parity.record("second", answer)
        parity.record("stats", pool_counters(pool))
        assert fresh and answer == ("ok", b"two\n"), f"{fault}: {answer!r} from {second!r}"
        assert pool.stats()["discarded_dead"] == 1
    finally:
        await pool.close()


@pytest.mark.parametrize("fault", sorted(STALLING))
async def test_pool_discards_a_connection_whose_request_stalled(
    parity: ParityRecorder, transport: Transport, echo_proxy: FaultProxy, fault: str
) -> None:
    """A request that times out leaves the block with an error: that connection is dropped."""
    pool = _pool(transport, echo_proxy)
    try:
        async with pool.acquire(timeout=TIMEOUT) as first:
            await ask(first, b"warm")
        STALLING[fault](echo_proxy)
        try:
            async with pool.acquire(timeout=TIMEOUT) as conn:
                await conn.write(b"stalls\n", timeout=0.3)
                await conn.read_until(b"\n", timeout=0.3)
            parity.record("stalled", "no error")
        except shims.ShimError as exc:
            parity.record("stalled", type(exc).__name__)
        parity.record("dropped", first.closed())
        echo_proxy.clear()
        async with pool.acquire(timeout=TIMEOUT) as second:
            fresh = second is not first
            answer = await outcome(ask(second, b"after"))
        parity.record("fresh", fresh)
        parity.record("answer", answer)
        stats = pool.stats()
        parity.record("discarded_error", stats["discarded_error"])
        parity.record("stats", pool_counters(pool))
        assert fresh and answer == ("ok", b"after\n")
        assert stats["discarded_error"] == 1
    finally:
        await pool.close()


@pytest.mark.parametrize("fault", sorted(SLOWING))
async def test_pool_keeps_a_slow_but_healthy_connection(
    parity: ParityRecorder, transport: Transport, echo_proxy: FaultProxy, fault: str
) -> None:
    """Slow bytes are not a dead connection: the pool reuses it."""
    pool = _pool(transport, echo_proxy)
    try:
        SLOWING[fault](echo_proxy)
        answers = []
        for i in range(3):
            async with pool.acquire(timeout=TIMEOUT) as conn:
                answers.append(await outcome(ask(conn, b"q%d" % i)))
        parity.record("answers", answers)
        parity.record("stats", pool_counters(pool))
        assert answers == [("ok", b"q%d\n" % i) for i in range(3)]
        assert pool.stats()["opened"] == 1 and pool.stats()["reused"] == 2
    finally:
        await pool.close()
