"""The shim against the real servers of the post-mortem (Redis, MariaDB), on every backend."""

from __future__ import annotations

from typing import Any

import pytest

import shims
from shims import ConnectionState

pytestmark = pytest.mark.services

DEADLINE = 10.0


async def _redis(conn: shims.Connection, command: bytes) -> bytes:
    await conn.write(command + b"\r\n", timeout=DEADLINE)
    return await conn.read_until(b"\r\n", timeout=DEADLINE)


def test_redis_kills_an_idle_pooled_connection(run: Any, redis: Any) -> None:
    """The DB-proxy bug: the server closes a pooled connection while it sits idle."""

    async def main() -> None:
        pool = shims.ConnectionPool(lambda: shims.connect(redis.host, redis.port, timeout=DEADLINE))
        reasons: list[str | None] = []
        closed = shims.Event()
        async with pool.acquire(timeout=DEADLINE) as conn:
            assert await _redis(conn, b"PING") == b"+PONG\r\n"
            client_id = int((await _redis(conn, b"CLIENT ID"))[1:-2])
            conn.on_close(lambda c: (reasons.append(c.close_reason), closed.set()))
        admin = await shims.connect(redis.host, redis.port, timeout=DEADLINE)
        try:
            assert await _redis(admin, b"CLIENT KILL ID %d" % client_id) == b":1\r\n"
        finally:
            admin.close()
        await shims.wait_for(closed.wait(), DEADLINE)  # no read pending: the FIN alone did it
        assert conn.closed() and reasons == ["peer"]
        async with pool.acquire(timeout=DEADLINE) as fresh:
            assert fresh is not conn
            assert await _redis(fresh, b"PING") == b"+PONG\r\n"
        stats = pool.stats()
        assert (stats["opened"], stats["discarded_dead"], stats["reused"]) == (2, 1, 0)
        await pool.close()

    run(main)


def test_mariadb_error_packet_then_close(run: Any, mariadb: Any) -> None:
    """A server that sends an error packet and closes (MySQL/MariaDB on a bad handshake)."""

    async def main() -> None:
        conn = await shims.connect(mariadb.host, mariadb.port, timeout=DEADLINE)
        header = await conn.read_exactly(4, timeout=DEADLINE)
        greeting = await conn.read_exactly(int.from_bytes(header[:3], "little"), timeout=DEADLINE)
        assert greeting[0] == 10 and b"MariaDB" in greeting  # protocol 10 handshake
        await conn.write(b"\x01\x00\x00\x01\x00", timeout=DEADLINE)  # a malformed reply
        closed = shims.Event()
        conn.on_close(lambda c: closed.set())
        await shims.wait_for(closed.wait(), DEADLINE)
        assert conn.state is ConnectionState.PEER_CLOSED and conn.close_reason == "peer"
        assert conn.unread_bytes() > 0  # the error packet is still there to read
        header = await conn.read_exactly(4, timeout=DEADLINE)
        packet = await conn.read_exactly(int.from_bytes(header[:3], "little"), timeout=DEADLINE)
        assert packet[0] == 0xFF and b"handshake" in packet.lower()
        assert await conn.read_some(timeout=DEADLINE) == b""
        with pytest.raises(shims.PeerClosedError) as info:
            await conn.read_exactly(1, timeout=DEADLINE)
        assert info.value.partial == b"" and info.value.reason == "peer"
        conn.close()

    run(main)
