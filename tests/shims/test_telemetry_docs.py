"""docs/telemetry.md and the Grafana dashboard stay true to what the shim exports."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from prometheus_client import REGISTRY

import shims
from shims import _telemetry

DOCS = Path(__file__).resolve().parents[2] / "docs"
DESIGN_METRICS = {
    "shims_backend_info",
    "shims_connections_opened_total",
    "shims_connection_closes_total",
    "shims_peer_closed_seconds",
    "shims_eof_to_caller_total",
    "shims_read_timeouts_total",
    "shims_write_timeouts_total",
    "shims_pool_connections",
    "shims_pool_wait_seconds",
    "shims_pool_wait_timeouts_total",
    "shims_pool_discards_total",
    "shims_pool_dead_at_checkout_total",
    "shims_loop_lag_seconds",
    "shims_unhandled_errors_total",
}


def exported() -> set[str]:
    """Names of the shims_* metrics in the default registry (counters with ``_total``)."""
    shims.ConnectionPool(lambda: shims.connect("127.0.0.1", 1), name="docs-check")
    assert _telemetry.enabled()
    names = set()
    for family in REGISTRY.collect():
        if family.name.startswith("shims_"):
            names.add(family.name + ("_total" if family.type == "counter" else ""))
    return names


def test_every_design_metric_is_exported_and_documented() -> None:
    names = exported()
    assert names >= DESIGN_METRICS
    documented = set(
        re.findall(r"^\| `(shims_[a-z_]+)` \|", (DOCS / "telemetry.md").read_text(), re.M)
    )
    assert documented == names


def test_the_dashboard_covers_every_metric_with_valid_promql(
    prometheus: Callable[..., Any],
) -> None:
    dashboard = json.loads((DOCS / "grafana-fleet.json").read_text())
    exprs = [t["expr"] for p in dashboard["panels"] for t in p["targets"]]
    used = {m for e in exprs for m in re.findall(r"shims_[a-z_]+?(?=_bucket|\{|\))", e)}
    missing = {n.removesuffix("_total") for n in exported()} - {
        u.removesuffix("_total") for u in used
    }
    assert missing == set(), missing
    server = prometheus({})
    for expr in exprs:
        concrete = expr.replace("$service", ".*").replace("$__rate_interval", "1m")
        body = server.raw_query(concrete)
        assert body["status"] == "success", (expr, body)


@pytest.mark.parametrize("name", sorted(DESIGN_METRICS))
def test_the_runbook_and_docs_name_the_metric(name: str) -> None:
    assert name in (DOCS / "telemetry.md").read_text()
