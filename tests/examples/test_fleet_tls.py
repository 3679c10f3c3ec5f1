"""The converted fleet over TLS against real servers, on every backend with equal recordings.

The cache talks to a redis-server that has only a TLS port; the docs client
performs MariaDB's in-protocol upgrade (SSL request with CLIENT_SSL, then
``start_tls`` on the same connection) against a private MariaDB whose user
``tls`` is let in over TLS only. Then the post-mortem again, over TLS: a
proxy closes every pooled connection (a FIN without close_notify, since the
proxy is below TLS: a truncation), and no EOFError reaches a caller.
"""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from test_postmortem import ROUND, assert_no_eof, kill_pooled, outcomes

from shims.testing import FaultProxy, ParityRecorder

pytestmark = [pytest.mark.services, pytest.mark.parity]


def _redis(fleet: Any, server: Any, certs: Any, *, host: str, port: int, max_size: int) -> Any:
    return fleet.cache.Redis(
        host,
        port,
        max_size=max_size,
        ssl=certs.client_context(),
        server_hostname=server.server_hostname,
    )


async def _mysql(fleet: Any, server: Any, certs: Any, *, host: str, port: int) -> Any:
    return await fleet.mysql.connect(
        host,
        port,
        server.user,
        server.password,
        server.database,
        timeout=10.0,
        ssl=certs.client_context(),
        server_hostname=server.server_hostname,
    )


async def test_cache_commands_over_tls(
    parity: ParityRecorder, fleet: Any, redis_tls: Any, tls_certs: Any
) -> None:
    client = _redis(
        fleet, redis_tls, tls_certs, host=redis_tls.host, port=redis_tls.port, max_size=2
    )
    key = f"fleet:tls:{uuid.uuid4().hex[:12]}"
    try:
        parity.record("ping", await client.ping())
        parity.record("set", await client.set(key, "v\r\n1", ex=30))
        parity.record("get", await client.get(key))
        parity.record("del", await client.delete(key))
        (rconn,) = client.live
        parity.record("tls", rconn.conn.tls.version)
        parity.record("reused", client.pool.stats["reused"])
    finally:
        client.close()
    parity.record("cleanups", client.cleanups)


async def test_mysql_upgrades_to_tls_in_band(
    parity: ParityRecorder, fleet: Any, mariadb_tls: Any, tls_certs: Any
) -> None:
    db = await _mysql(fleet, mariadb_tls, tls_certs, host=mariadb_tls.host, port=mariadb_tls.port)
    try:
        status = await db.query("SHOW SESSION STATUS LIKE 'Ssl_version'")
        parity.record("server_says", status.rows)
        parity.record("client_says", db.conn.tls.version)
        parity.record("select", (await db.query("SELECT 1 + %s", 1)).rows)
    finally:
        await db.quit()
    # The same user without TLS: the server refuses it (REQUIRE SSL), so the upgrade was real.
    with pytest.raises(fleet.mysql.MySQLError) as refused:
        await fleet.mysql.connect(
            mariadb_tls.host, mariadb_tls.port, "tls", "secret", "test", timeout=10.0
        )
    parity.record("plain_refused", refused.value.code)


async def test_docs_survive_the_proxy_closing_pooled_tls_connections(
    parity: ParityRecorder, fleet: Any, mariadb_tls: Any, tls_certs: Any
) -> None:
    doc_id = f"pm-tls-{uuid.uuid4().hex[:12]}"
    with FaultProxy(mariadb_tls.host, mariadb_tls.port) as proxy:

        async def connect() -> Any:
            return await _mysql(fleet, mariadb_tls, tls_certs, host=proxy.host, port=proxy.port)

        pool = fleet.pool.Pool(connect, max_size=ROUND, retry_on=(fleet.mysql.ServerGoneError,))
        docs = fleet.docs.Docs(pool)
        try:
            await docs.ensure_schema()
            await docs.save(doc_id, "post-mortem", "body")
            before = await outcomes([docs.get(doc_id) for _ in range(ROUND)])
            seen = await kill_pooled(proxy, "max_lifetime", pool.idle)
            reasons = sorted({db.conn.close_reason for db in pool.idle()})
            after = await outcomes([docs.save(doc_id, "after", "body")])  # never retried
            after += await outcomes([docs.get(doc_id) for _ in range(ROUND)])
            after.append(await docs.healthy())
        finally:
            await docs.delete(doc_id)
            pool.close()
    assert_no_eof(before + after, "this backend")
    parity.record("idle all closed()", seen["idle all closed()"])
    parity.record("idle close reasons", reasons)
    parity.record("after", [after[0], [d["title"] for d in after[1:-1]], after[-1]])
    parity.record("retried", pool.stats["retried"])
    assert seen["idle all closed()"], seen
    assert reasons == ["truncated"], reasons  # the proxy's FIN carries no close_notify
    assert after[0] == 2 and [d["title"] for d in after[1:-1]] == ["after"] * ROUND, after
    assert pool.stats["retried"] == 0 and pool.stats["discarded"] == seen["pooled"], pool.stats


async def test_cache_survives_the_proxy_closing_pooled_tls_connections(
    parity: ParityRecorder, fleet: Any, redis_tls: Any, tls_certs: Any
) -> None:
    key = f"fleet:pm:tls:{uuid.uuid4().hex[:12]}"
    with FaultProxy(redis_tls.host, redis_tls.port) as proxy:
        client = _redis(
            fleet, redis_tls, tls_certs, host=proxy.host, port=proxy.port, max_size=ROUND
        )
        try:
            await client.set(key, "41", ex=30)
            before = await outcomes([client.get(key) for _ in range(ROUND)])
            seen = await kill_pooled(proxy, "max_lifetime", client.pool.idle)
            after = await outcomes([client.incr(key)])  # not idempotent: never retried
            after += await outcomes([client.get(key) for _ in range(ROUND)])
            after.append(await client.ping())
            cleanups = dict(client.cleanups)
            await client.delete(key)
        finally:
            client.close()
    assert_no_eof(before + after, "this backend")
    parity.record("idle all closed()", seen["idle all closed()"])
    parity.record("after", after)
    parity.record("retried", client.pool.stats["retried"])
    parity.record("cleanups are peer closes", cleanups == {"local": 0, "peer": seen["pooled"]})
    assert seen["idle all closed()"] and seen["pooled"] >= 2, seen
    assert after == [42] + [b"42"] * ROUND + [True], after
    assert client.pool.stats["retried"] == 0
    assert cleanups == {"local": 0, "peer": seen["pooled"]}, cleanups
    assert len(client.live) == 0
