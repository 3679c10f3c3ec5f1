"""One instance of the converted fleet's docs service, with a Prometheus metrics endpoint.

Run by the cohort tests, one process per instance::

    python fleet_instance.py FLEET_ROOT METRICS_PORT DB_HOST DB_PORT REDIS_HOST REDIS_PORT

Its backend comes from the per-service flag (the tests set
``MIGRATE_BACKEND_DOCS``); ``SHIMS_BROKEN_VARIANT`` applies one variant of
``tests/testing/broken_variants.py`` first. It prints ``ready`` once the
endpoint serves and a first round of requests succeeded, then sends a steady,
bounded load (a document read and a cache read every 100 ms; light, so the
proxy's closes mostly find a connection idle, as in the post-mortem) until it
is terminated. Request errors are counted and
printed at exit; they are what the metrics must show, not a reason to stop.
"""

from __future__ import annotations

import os
import signal
import sys
from pathlib import Path
from typing import Any

root, metrics_port, db_host, db_port, redis_host, redis_port = sys.argv[1:7]
sys.path.insert(0, root)
variant = os.environ.get("SHIMS_BROKEN_VARIANT")
if variant:
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "testing"))
    import broken_variants

    broken_variants.VARIANTS[variant]()

from fleet.cache.service import make_client  # noqa: E402
from fleet.docs.service import Docs, make_pool  # noqa: E402
from prometheus_client import start_http_server  # noqa: E402

import shims  # noqa: E402

stopping = False


def stop(*args: Any) -> None:
    global stopping
    stopping = True


async def main() -> int:
    pool = make_pool(host=db_host, port=int(db_port), max_size=3)
    docs = Docs(pool)
    redis = make_client(host=redis_host, port=int(redis_port), max_size=3)
    errors = 0
    try:
        await docs.ensure_schema()
        await docs.save("cohort-proof", "Cohort", "read by every instance")
        await redis.set("fleet:cohort-proof", "1")
        print("ready", flush=True)
        while not stopping:
            results = await shims.gather(
                docs.get("cohort-proof"), redis.get("fleet:cohort-proof"), return_exceptions=True
            )
            errors += sum(isinstance(r, BaseException) for r in results)
            await shims.sleep(0.1)
    finally:
        pool.close()
        redis.close()
    return errors


signal.signal(signal.SIGTERM, stop)
start_http_server(int(metrics_port), addr="127.0.0.1")
print("request errors:", shims.run(main, service="docs"), flush=True)
