"""The http service's entry point: fetch URLs through the pooled client.

``python -m fleet.http.service http://127.0.0.1:8080/static/small.txt ...``
prints each URL's status and body size, then the pool's counters.
"""

from __future__ import annotations

import sys
from urllib.parse import urlsplit

from legacy import runtime

from fleet.http.client import HTTPClient


def split(url):
    """Return ``(host, port, target)`` of an ``http://`` URL."""
    parts = urlsplit(url)
    if parts.scheme != "http" or not parts.hostname:
        raise ValueError(f"only http://host[:port]/path URLs are supported, not {url!r}")
    return (
        parts.hostname,
        parts.port or 80,
        (parts.path or "/") + (f"?{parts.query}" if parts.query else ""),
    )


async def fetch_all(urls):
    """Fetch every URL (one client per server); return ``[(url, status, size)]``."""
    clients = {}
    results = []
    try:
        for url in urls:
            host, port, target = split(url)
            client = clients.setdefault((host, port), HTTPClient(host, port))
            response = await client.get(target)
            results.append((url, response.status, len(response.body)))
    finally:
        for client in clients.values():
            print("http: pool", client.pool.stats, "discards", client.pool.discards)
            client.close()
    return results


async def main():
    for url, status, size in await fetch_all(sys.argv[1:]):
        print(f"http: {url} -> {status}, {size} bytes")


if __name__ == "__main__":
    runtime.run(main)
