"""A tiny pytest plugin ``migrate parity`` loads into each per-backend run (``-p``).

It writes ``{"outcomes": {nodeid: outcome}, "exitstatus": n}`` as JSON to the
file named by ``MIGRATE_PARITY_REPORT`` when the session ends. Outcomes:
``passed``, ``failed``, ``error`` (setup or teardown failed), ``skipped``,
``xfailed``, ``xpassed``; a module that fails to import is one ``error``
entry under its own node id.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

_outcomes: dict[str, str] = {}


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    """Fold each phase's report into the test's single outcome."""
    nodeid = report.nodeid
    if report.when == "call":
        if hasattr(report, "wasxfail"):
            _outcomes[nodeid] = "xfailed" if report.skipped else "xpassed"
        else:
            _outcomes[nodeid] = report.outcome
    elif report.failed:  # setup or teardown
        _outcomes[nodeid] = "error"
    elif report.when == "setup" and report.skipped:
        _outcomes[nodeid] = "xfailed" if hasattr(report, "wasxfail") else "skipped"


def pytest_collectreport(report: pytest.CollectReport) -> None:
    """Record a collection error (e.g. a test module that does not import)."""
    if report.failed:
        _outcomes[report.nodeid or "<collection>"] = "error"


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """Write the outcomes where ``migrate parity`` will read them."""
    target = os.environ.get("MIGRATE_PARITY_REPORT")
    if target:
        payload = {"outcomes": _outcomes, "exitstatus": int(exitstatus)}
        Path(target).write_text(json.dumps(payload), encoding="utf-8")
