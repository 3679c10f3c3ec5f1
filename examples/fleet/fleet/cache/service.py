"""The cache service: page-view counters and a read-through cache."""

from __future__ import annotations

import json

import legacy.runtime as rt

from fleet import config
from fleet.cache.redis import Redis


def make_client(settings=None, *, host=None, port=None, max_size=8):
    """Return a Redis client; ``host``/``port`` override the configuration (e.g. a proxy)."""
    cache = settings or config.redis()
    return Redis(host or cache.host, port or cache.port, max_size=max_size)


async def count_view(redis, page):
    """Count one view of ``page``; return the total."""
    return await redis.incr(f"fleet:views:{page}")


@rt.coroutine
def cached(redis, key, compute, *, ttl=60):
    """Return the JSON value cached under ``key``, computing and storing it on a miss."""
    raw = yield redis.get(f"fleet:cache:{key}")
    if raw is not None:
        return json.loads(raw)
    value = yield compute()
    yield redis.set(f"fleet:cache:{key}", json.dumps(value), ex=ttl)
    return value


async def main():
    """Count a page view and read it back through the cache (``python -m fleet.cache.service``)."""
    redis = make_client()
    try:
        views = await count_view(redis, "home")

        async def slow_report():
            await rt.sleep(0.01)
            return {"views": views}

        print(
            "cache: home page views", views, "->", await cached(redis, "report", slow_report, ttl=1)
        )
    finally:
        redis.close()


if __name__ == "__main__":
    rt.run(main)
