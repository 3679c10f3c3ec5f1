"""ConnectionPool on every backend: liveness at checkout, recycling, unread policy, reconnects."""

from __future__ import annotations

import os
import select
import socket
from typing import Any

import pytest

import shims
from shims import ConnectionState

DEADLINE = 10.0


def _fd_count() -> int:
    return len(os.listdir("/proc/self/fd"))


def test_checkout_probe_sees_a_fin_the_loop_has_not_read(run: Any, raw_peer: Any) -> None:
    peer = raw_peer()

    async def main() -> None:
        pool = shims.ConnectionPool(lambda: shims.connect("127.0.0.1", peer.port), max_size=1)
        reasons: list[str | None] = []
        async with pool.acquire(timeout=DEADLINE) as first:
            first.on_close(lambda c: reasons.append(c.close_reason))
            peer.accept()
        # No await from here to the checkout: the loop cannot read the FIN first.
        peer.sock.close()
        poller = select.poll()
        poller.register(first._fd, select.POLLIN | select.POLLRDHUP)
        assert poller.poll(DEADLINE * 1000), "the FIN never reached our socket"
        assert first.state is ConnectionState.OPEN
        async with pool.acquire(timeout=DEADLINE) as second:
            assert second is not first and second.is_connected()
        assert first.state is ConnectionState.CLOSED
        assert reasons == ["peer"]
        stats = pool.stats()
        assert (stats["opened"], stats["reused"], stats["discarded_dead"]) == (2, 0, 1)
        await pool.close()

    run(main)


def test_pool_never_hands_out_a_connection_closed_while_idle(run: Any) -> None:
    async def main() -> None:
        async def handler(conn: shims.Connection) -> None:
            while await conn.read_exactly(4, timeout=DEADLINE) == b"ping":
                await conn.write(b"pong", timeout=DEADLINE)
            # b"quit": return, and the server closes its side

        async with await shims.serve(handler, "127.0.0.1", 0) as server:
            pool = shims.ConnectionPool(lambda: shims.connect("127.0.0.1", server.port))
            closed = shims.Event()
            async with pool.acquire() as conn:
                conn.on_close(lambda c: closed.set())
                await conn.write(b"ping", timeout=DEADLINE)
                assert await conn.read_exactly(4, timeout=DEADLINE) == b"pong"
            async with pool.acquire() as again:
                assert again is conn
                await conn.write(b"quit", timeout=DEADLINE)  # the server will close its side
            await shims.wait_for(closed.wait(), DEADLINE)
            async with pool.acquire() as fresh:
                assert fresh is not conn and fresh.is_connected()
                await fresh.write(b"ping", timeout=DEADLINE)
                assert await fresh.read_exactly(4, timeout=DEADLINE) == b"pong"
            stats = pool.stats()
            assert stats["opened"] == 2 and stats["reused"] == 1 and stats["discarded_dead"] == 1
            await pool.close()

    run(main)


@pytest.mark.parametrize("duplex", [False, True], ids=["request-response", "duplex"])
def test_unread_data_policy_follows_duplex(run: Any, duplex: bool) -> None:
    async def main() -> None:
        async def chatty(conn: shims.Connection) -> None:
            await conn.read_exactly(1, timeout=DEADLINE)
            await conn.write(b"unsolicited", timeout=DEADLINE)
            await conn.read_some(timeout=DEADLINE)

        async with await shims.serve(chatty, "127.0.0.1", 0) as server:
            pool = shims.ConnectionPool(
                lambda: shims.connect("127.0.0.1", server.port, duplex=duplex)
            )
            async with pool.acquire() as conn:
                await conn.write(b"!", timeout=DEADLINE)
                await shims.wait_for(_until_unread(conn), DEADLINE)
            async with pool.acquire() as again:
                reused = again is conn
            stats = pool.stats()
            await pool.close()
        if duplex:
            assert reused and stats["discarded_unread"] == 0 and stats["reused"] == 1
        else:
            assert not reused and stats["discarded_unread"] == 1 and conn.closed()

    run(main)


async def _until_unread(conn: shims.Connection) -> None:
    while not conn.unread_bytes():
        await shims.sleep(0.001)


def test_exception_inside_block_discards(run: Any, raw_peer: Any) -> None:
    peer = raw_peer()

    async def main() -> None:
        pool = shims.ConnectionPool(lambda: shims.connect("127.0.0.1", peer.port))
        with pytest.raises(ZeroDivisionError):
            async with pool.acquire() as conn:
                peer.accept()
                1 / 0  # noqa: B018
        assert conn.closed() and conn.close_reason == "local"
        assert pool.stats()["discarded_error"] == 1 and pool.stats()["size"] == 0
        await pool.close()

    run(main)


def test_max_idle_and_max_lifetime_recycle(run: Any) -> None:
    async def main() -> None:
        async def handler(conn: shims.Connection) -> None:
            await conn.read_some(timeout=DEADLINE)

        async with await shims.serve(handler, "127.0.0.1", 0) as server:

            def dial() -> Any:
                return shims.connect("127.0.0.1", server.port)

            for kwargs in ({"max_idle": 0.05}, {"max_lifetime": 0.05}):
                pool = shims.ConnectionPool(dial, **kwargs)
                closed: list[str | None] = []
                async with pool.acquire() as conn:
                    conn.on_close(lambda c, log=closed: log.append(c.close_reason))
                await shims.sleep(0.1)  # let the limit pass (no race: 2x the limit)
                async with pool.acquire() as fresh:
                    assert fresh is not conn
                assert closed == ["local"], kwargs
                assert pool.stats()["discarded_expired"] == 1, kwargs
                await pool.close()

    run(main)


def test_connect_failures_release_the_slot_and_leak_no_socket(run: Any) -> None:
    probe = socket.socket()
    probe.bind(("127.0.0.1", 0))
    dead_port = probe.getsockname()[1]
    probe.close()

    async def main() -> None:
        async def handler(conn: shims.Connection) -> None:
            await conn.read_some(timeout=DEADLINE)

        async with await shims.serve(handler, "127.0.0.1", 0) as server:
            target = {"port": dead_port}
            pool = shims.ConnectionPool(
                lambda: shims.connect("127.0.0.1", target["port"]), max_size=1
            )
            for _ in range(10):  # warm up whatever the loop opens lazily
                with pytest.raises(shims.ConnectError):
                    async with pool.acquire(timeout=DEADLINE):
                        pass
            before = _fd_count()
            for _ in range(200):
                with pytest.raises(shims.ConnectError) as info:
                    async with pool.acquire(timeout=DEADLINE):
                        pass
                assert isinstance(info.value.__cause__, ConnectionRefusedError)
            assert _fd_count() == before
            stats = pool.stats()
            assert stats["connect_errors"] == 210 and stats["size"] == 0
            target["port"] = server.port  # the slot is free again: a good connect works
            async with pool.acquire(timeout=DEADLINE) as conn:
                assert conn.is_connected()
            await pool.close()

    run(main)


def test_full_pool_waits_then_times_out(run: Any) -> None:
    async def main() -> None:
        async def handler(conn: shims.Connection) -> None:
            await conn.read_some(timeout=DEADLINE)

        async with await shims.serve(handler, "127.0.0.1", 0) as server:
            pool = shims.ConnectionPool(lambda: shims.connect("127.0.0.1", server.port), max_size=1)
            async with pool.acquire() as held:
                with pytest.raises(shims.ConnectTimeout, match="max_size=1"):
                    async with pool.acquire(timeout=0.1):
                        pass

                async def later() -> shims.Connection:
                    async with pool.acquire(timeout=DEADLINE) as conn:
                        return conn

                waiter = shims.spawn(later())
                await shims.sleep(0.05)
                assert not waiter.done()
            assert await waiter is held
            stats = pool.stats()
            assert stats["waits"] == 2 and stats["wait_timeouts"] == 1 and stats["reused"] == 1
            await pool.close()
            with pytest.raises(shims.ConnectionClosedError):
                async with pool.acquire():
                    pass

    run(main)


def test_slot_table_rejects_illegal_transitions(run: Any, raw_peer: Any) -> None:
    from shims._pool import _SLOT_TRANSITIONS, _Slot

    peer = raw_peer()

    async def main() -> None:
        conn = await shims.connect("127.0.0.1", peer.port, timeout=DEADLINE)
        peer.accept()
        states = {s for s, _ in _SLOT_TRANSITIONS} | set(_SLOT_TRANSITIONS.values())
        events = {e for _, e in _SLOT_TRANSITIONS}
        rejected = 0
        for state in states:
            for event in events:
                slot = _Slot(conn, 0.0)
                slot.state = state
                if (state, event) in _SLOT_TRANSITIONS:
                    slot.fire(event)
                    assert slot.state == _SLOT_TRANSITIONS[(state, event)]
                    continue
                with pytest.raises(RuntimeError, match="illegal pool slot transition"):
                    slot.fire(event)
                assert slot.state == state
                rejected += 1
        assert rejected == len(states) * len(events) - len(_SLOT_TRANSITIONS)
        conn.close()

    run(main)
