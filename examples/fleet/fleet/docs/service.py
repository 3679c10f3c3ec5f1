"""The docs service: documents in a MariaDB table, reached through the company pool."""

from __future__ import annotations

from legacy import runtime

from fleet import config
from fleet.docs import mysql
from fleet.pool import Pool

SCHEMA = """
CREATE TABLE IF NOT EXISTS fleet_docs (
    id VARCHAR(64) PRIMARY KEY,
    title VARCHAR(200) NOT NULL,
    body TEXT NOT NULL,
    revision INT NOT NULL DEFAULT 1
) DEFAULT CHARSET = utf8mb4
"""


def make_pool(settings=None, *, host=None, port=None, max_size=4, timeout=10.0):
    """Return a pool of authenticated sessions; ``host``/``port`` override (e.g. a proxy)."""
    db = settings or config.mariadb()

    async def connect():
        return await mysql.connect(
            host or db.host, port or db.port, db.user, db.password, db.database, timeout=timeout
        )

    # A server that kills a connection sends an ERR packet first: as good as EOF for a retry.
    return Pool(connect, max_size=max_size, retry_on=(mysql.ServerGoneError,))


class Docs:
    """Save and fetch documents; reads are idempotent and so retried once by the pool."""

    def __init__(self, pool):
        self.pool = pool

    @runtime.coroutine
    def ensure_schema(self):
        yield self.pool.run(lambda db: db.query(SCHEMA), idempotent=True)

    @runtime.coroutine
    def save(self, doc_id, title, body):
        """Insert or update a document; return its new revision."""
        sql = (
            "INSERT INTO fleet_docs (id, title, body) VALUES (%s, %s, %s) "
            "ON DUPLICATE KEY UPDATE title = VALUES(title), body = VALUES(body), "
            "revision = revision + 1"
        )
        yield self.pool.run(lambda db: db.query(sql, doc_id, title, body))
        doc = yield self.get(doc_id)
        return doc["revision"]

    @runtime.coroutine
    def get(self, doc_id):
        """Return the document as a dict, or None."""
        sql = "SELECT id, title, body, revision FROM fleet_docs WHERE id = %s"
        result = yield self.pool.run(lambda db: db.query(sql, doc_id), idempotent=True)
        if not result.rows:
            return None
        return dict(zip(result.columns, result.rows[0], strict=True))

    @runtime.coroutine
    def get_many(self, doc_ids):
        """Fetch several documents concurrently, in order."""
        docs = yield runtime.wait_all([self.get(doc_id) for doc_id in doc_ids])
        return docs

    async def delete(self, doc_id):
        sql = "DELETE FROM fleet_docs WHERE id = %s"
        result = await self.pool.run(lambda db: db.query(sql, doc_id), idempotent=True)
        return result.affected_rows

    async def healthy(self):
        """Return True when the database answers COM_PING."""
        return await self.pool.run(lambda db: db.ping(), idempotent=True)


async def main():
    """Store a document and read it back (``python -m fleet.docs.service``)."""
    pool = make_pool()
    docs = Docs(pool)
    try:
        await docs.ensure_schema()
        revision = await docs.save("hello", "Hello", "Written by the docs service.")
        print("docs: saved 'hello' at revision", revision, "->", await docs.get("hello"))
    finally:
        pool.close()


if __name__ == "__main__":
    runtime.run(main)
