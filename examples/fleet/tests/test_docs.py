"""The docs service against the real MariaDB."""

from __future__ import annotations

import uuid

import pytest

from fleet.docs import mysql
from fleet.docs.service import Docs, make_pool

pytestmark = pytest.mark.services


@pytest.mark.parity
async def test_save_get_and_revisions(mariadb, parity):
    pool = make_pool(mariadb)
    docs = Docs(pool)
    doc_id = f"doc-{uuid.uuid4().hex[:12]}"
    try:
        await docs.ensure_schema()
        parity.record("first revision", await docs.save(doc_id, "Title", "body \u00e9 'quoted'"))
        parity.record("second revision", await docs.save(doc_id, "Title 2", "body 2"))
        doc = await docs.get(doc_id)
        parity.record("doc", {k: v for k, v in doc.items() if k != "id"})
        many = await docs.get_many([doc_id, "missing-" + doc_id, doc_id])
        parity.record("many", [d and d["title"] for d in many])
        parity.record("healthy", await docs.healthy())
        parity.record("deleted", await docs.delete(doc_id))
        parity.record("after delete", await docs.get(doc_id))
        parity.record("connections reused", pool.stats["reused"] > 0)
    finally:
        pool.close()


@pytest.mark.parity
async def test_error_packets_are_typed(mariadb, parity):
    session = await mysql.connect(
        mariadb.host, mariadb.port, mariadb.user, mariadb.password, mariadb.database
    )
    try:
        with pytest.raises(mysql.MySQLError) as syntax:
            await session.query("SELEKT 1")
        parity.record("syntax error", (syntax.value.code, syntax.value.sqlstate))
        with pytest.raises(mysql.MySQLError) as missing:
            await session.query("SELECT * FROM fleet_no_such_table")
        parity.record("missing table", (missing.value.code, missing.value.sqlstate))
        # The session survives an error packet.
        result = await session.query("SELECT %s AS a, %s AS b, NULL AS c", 41, "x")
        parity.record("after errors", (result.columns, result.rows))
    finally:
        await session.quit()
    parity.record("closed after quit", session.closed())


@pytest.mark.parity
async def test_wrong_password_is_access_denied(mariadb, parity):
    with pytest.raises(mysql.MySQLError) as denied:
        await mysql.connect(mariadb.host, mariadb.port, "fleet_nobody", "wrong", mariadb.database)
    parity.record("denied", (denied.value.code, denied.value.sqlstate))


@pytest.mark.parity
async def test_killed_connection_is_replaced(mariadb, parity):
    pool = make_pool(mariadb, max_size=1)
    docs = Docs(pool)
    try:
        first = await pool.run(lambda db: db.query("SELECT CONNECTION_ID()"), idempotent=True)
        killer = await mysql.connect(mariadb.host, mariadb.port, mariadb.user, mariadb.password)
        try:
            await killer.query("KILL %s", first.rows[0][0])
        finally:
            await killer.quit()
        # The killed session is idle in the pool; the next read must not see the EOF.
        parity.record("healthy after kill", await docs.healthy())
        second = await pool.run(lambda db: db.query("SELECT CONNECTION_ID()"), idempotent=True)
        parity.record("new session", second.rows != first.rows)
        parity.record("discarded", pool.stats["discarded"])
    finally:
        pool.close()
