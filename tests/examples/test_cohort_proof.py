"""The cohort judge on real parts: fleet instances, a DB proxy that closes connections, Prometheus.

Nine processes run the converted fleet's docs service against the real
MariaDB and Redis, each through a FaultProxy that closes every connection
one second after it opened (FIN), as the post-mortem's DB proxy did, and
each with its own metrics endpoint: three on ``legacy`` (the baseline),
three on ``asyncio``, three on ``asyncio`` with the post-mortem's bug put
back (``closed()`` from the writer's closing flag). A real Prometheus server
scrapes them all. ``migrate compare`` must pass legacy vs asyncio and fail
legacy vs the broken cohort naming the metric that moved (PeerClosedError
reaching callers: the pool handed out connections the proxy had closed),
both from Prometheus and from scraping the endpoints itself.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from fleet_support import Conversion
from prometheus_support import free_port

from shims.testing import FaultProxy

pytestmark = [pytest.mark.slow, pytest.mark.services, pytest.mark.timeout(180)]

HERE = Path(__file__).resolve().parent
PER_COHORT = 3
WINDOW = 10  # seconds compared
COHORTS = {
    "legacy": {"MIGRATE_BACKEND_DOCS": "legacy"},
    "asyncio": {"MIGRATE_BACKEND_DOCS": "asyncio"},
    "broken": {"MIGRATE_BACKEND_DOCS": "asyncio", "SHIMS_BROKEN_VARIANT": "closed_from_is_closing"},
}


class Fleet:
    """The instance processes, by cohort, and their metrics addresses."""

    def __init__(self) -> None:
        self.procs: list[subprocess.Popen[str]] = []
        self.addresses: dict[str, list[str]] = {name: [] for name in COHORTS}

    def start(self, root: Path, cohort: str, db: FaultProxy, cache: FaultProxy) -> None:
        port = free_port()
        env = {k: v for k, v in os.environ.items() if not k.startswith(("MIGRATE_", "SHIMS_"))}
        proc = subprocess.Popen(
            [sys.executable, str(HERE / "fleet_instance.py"), str(root), str(port),
             db.host, str(db.port), cache.host, str(cache.port)],
            cwd=root, env={**env, **COHORTS[cohort]}, stdout=subprocess.PIPE,
            stderr=subprocess.PIPE, text=True,
        )  # fmt: skip
        self.procs.append(proc)
        self.addresses[cohort].append(f"127.0.0.1:{port}")

    def wait_ready(self, within: float = 60.0) -> None:
        deadline = time.monotonic() + within
        for proc in self.procs:
            assert proc.stdout is not None
            line = proc.stdout.readline()  # "ready", or "" if it died
            assert line.strip() == "ready", f"instance failed: {line}{proc.stderr.read()}"  # type: ignore[union-attr]
            assert time.monotonic() < deadline, "instances took too long to start"

    def stop(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                proc.terminate()
        for proc in self.procs:
            try:
                proc.communicate(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.communicate()


@pytest.fixture
def fleet_instances(converted_fleet: Conversion, mariadb: Any, redis: Any) -> Iterator[Fleet]:
    fleet = Fleet()
    with FaultProxy(mariadb.host, mariadb.port) as db, FaultProxy(redis.host, redis.port) as cache:
        db.max_lifetime(1.0)
        cache.max_lifetime(1.0)
        try:
            for cohort in COHORTS:
                for _ in range(PER_COHORT):
                    fleet.start(converted_fleet.root, cohort, db, cache)
            fleet.wait_ready()
            yield fleet
        finally:
            fleet.stop()


# As a gate on a noisy fleet would: a critical metric must at least double to fail, so two
# healthy cohorts (the proxy's kills now and then land mid-request on both) pass reliably.
SETTINGS = Path(__file__).resolve().parent / "cohort_proof.toml"


def compare(baseline: list[str], candidate: list[str], *extra: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "migrate", "compare", "--json", "--config", str(SETTINGS),
         "--baseline", *baseline, "--candidate", *candidate, *extra],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip


def verdict(proc: subprocess.Popen[str]) -> tuple[int, dict[str, Any]]:
    out, err = proc.communicate(timeout=90)
    assert proc.returncode in (0, 1), f"compare failed to compare: {err}"
    return proc.returncode, json.loads(out)


def moved(report: dict[str, Any]) -> dict[str, tuple[float, float]]:
    return {
        m["metric"]: (m["baseline"], m["candidate"])
        for m in report["metrics"]
        if m["verdict"] != "pass"
    }


def test_compare_passes_asyncio_and_fails_the_broken_backend(
    fleet_instances: Fleet, prometheus: Callable[..., Any], tmp_path: Path
) -> None:
    fleet = fleet_instances
    direct = {c: [f"http://{a}/metrics" for a in fleet.addresses[c]] for c in COHORTS}
    # Scraping the endpoints directly: both comparisons over the same 8-second window.
    runs = [
        compare(direct["legacy"], direct["asyncio"], "--duration", "8"),
        compare(direct["legacy"], direct["broken"], "--duration", "8"),
    ]
    server = prometheus(fleet.addresses)
    code, report = verdict(runs[0])
    assert code == 0, moved(report)
    code, report = verdict(runs[1])
    assert code == 1 and "shims_eof_to_caller_total" in report["regressions"], moved(report)

    # The same from Prometheus, over the last WINDOW seconds it scraped.
    server.wait_scraped(targets=3 * PER_COHORT, samples=WINDOW + 2)
    src = server.url.replace("http://", "prom+http://")
    prom = {c: f'{src}?selector={{job="fleet",cohort="{c}"}}' for c in COHORTS}
    runs = [
        compare([prom["legacy"]], [prom["asyncio"]], "--duration", str(WINDOW)),
        compare([prom["legacy"]], [prom["broken"]], "--duration", str(WINDOW)),
    ]
    code, report = verdict(runs[0])
    assert code == 0, moved(report)
    assert sorted(report["candidate"]) == sorted(fleet.addresses["asyncio"])
    code, report = verdict(runs[1])
    assert code == 1, moved(report)
    assert "shims_eof_to_caller_total" in report["regressions"], moved(report)
    eof = next(m for m in report["metrics"] if m["metric"] == "shims_eof_to_caller_total")
    assert eof["candidate"] > eof["baseline"] and eof["p_value"] <= 0.05
    # The table a person reads, from the same window: it names the metric too.
    table = subprocess.run(
        [sys.executable, "-m", "migrate", "compare", "--config", str(SETTINGS),
         "--baseline", prom["legacy"],
         "--candidate", prom["broken"], "--duration", str(WINDOW)],
        capture_output=True, text=True, timeout=90, check=False,
    )  # fmt: skip
    assert table.returncode == 1, table.stderr
    assert "compare: REGRESSION in shims_eof_to_caller_total" in table.stdout
    print(f"\n$ migrate compare --baseline {prom['legacy']} --candidate {prom['broken']} "
          f"--duration {WINDOW}\n{table.stdout}")  # fmt: skip
