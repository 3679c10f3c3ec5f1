"""``migrate parity [PYTEST ARGS]``: run a suite once per backend and compare the outcomes.

Theory of operation: the flag is read at process start, so each backend gets
its own ``python -m pytest`` process with ``MIGRATE_BACKEND=<backend>`` (and
every ``MIGRATE_BACKEND_<SERVICE>`` override removed, since it would win)
and ``--backends <backend>`` for the shims-parity plugin. This module is
also loaded into each run as a tiny pytest plugin (``-p migrate._parity``,
the ``pytest_*`` hooks at the end) that writes each test's outcome to the
JSON file named by ``MIGRATE_PARITY_REPORT``: ``passed``, ``failed``,
``error`` (setup or teardown failed, or a module that does not import),
``skipped``, ``xfailed``, ``xpassed``.

Test ids are lined up across runs by removing the run's backend from the
parametrization (``test_x[asyncio]`` in the asyncio run and ``test_x[legacy]``
in the legacy run are the same row); an id naming a *different* backend is
left to that backend's run. A row fails when any backend failed (``failed``,
``error`` or ``xpassed``) and mismatches when the backends that ran it
disagree (a skip, or a row a run did not have, does not count), or when
what the test recorded with the parity fixture (``parity.record``, published
by the plugin in ``user_properties``) differs between backends. Exit code 1 on any
failure or mismatch, 2 when pytest itself could not run.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from shims import FlagError
from shims._registry import known, parity_defaults

if TYPE_CHECKING:  # pytest is a test dependency; the CLI must import without it
    import pytest

__all__ = ["add_parser"]

FULL_MATRIX_MAX = 40  # bigger suites list only the rows that need attention
_CLASS = {"passed": "ok", "xfailed": "ok", "failed": "fail", "error": "fail", "xpassed": "fail"}


@dataclass
class BackendRun:
    """One backend's pytest process: its exit status, outcomes, output and duration."""

    backend: str
    exitstatus: int
    outcomes: dict[str, str] = field(default_factory=dict)
    output: str = ""
    seconds: float = 0.0
    records: dict[str, dict[str, str]] = field(default_factory=dict)


def add_parser(subparsers: Any) -> None:
    """Register ``migrate parity``."""
    parser = subparsers.add_parser(
        "parity",
        allow_abbrev=False,
        usage="migrate parity [--backends NAMES] [--json] [--full] [--show-output] "
        "[PYTEST ARGS...]",
        help="run a pytest suite once per backend and print the test x backend matrix",
        description=(
            "Run pytest once per backend, each in its own process (MIGRATE_BACKEND=B and "
            "--backends B for the parity plugin), then print a test x backend matrix. Any "
            "argument not listed below goes to pytest unchanged (put them after '--' to be "
            "sure). Exit codes: 0 every test passed (or skipped) alike on every backend, 1 a "
            "failure or a mismatch between backends, 2 pytest could not run."
        ),
    )
    parser.add_argument(
        "--backends", default=None, metavar="NAMES",
        help="comma-separated backends (default: every installed one)",
    )  # fmt: skip
    parser.add_argument("--json", action="store_true", help="print the matrix as JSON")
    parser.add_argument("--full", action="store_true", help="print every row of the matrix")
    parser.add_argument(
        "--show-output", action="store_true", help="stream each pytest run's own output"
    )
    parser.set_defaults(func=_handle, passthrough=True)


def _handle(args: argparse.Namespace) -> int:
    if importlib.util.find_spec("pytest") is None:
        print(
            "migrate parity: error: pytest is not installed in this environment; "
            "install it with: pip install 'migrate-toolkit[test]'",
            file=sys.stderr,
        )
        return 2
    backends = _backends(args.backends)
    extra = list(getattr(args, "extra", []))
    if "--" in extra:
        extra.remove("--")
    runs = []
    for backend in backends:
        if not args.json:
            print(f"parity: running pytest on {backend} ...", file=sys.stderr, flush=True)
        run = run_backend(backend, extra, show_output=args.show_output)
        if run.exitstatus not in (0, 1, 2, 5) or (run.exitstatus == 2 and not run.outcomes):
            tail = "\n".join(run.output.strip().splitlines()[-15:])
            print(f"{tail}\nmigrate parity: error: pytest could not run on {backend} "
                  f"(exit status {run.exitstatus}){_plugin_hint(run)}", file=sys.stderr)  # fmt: skip
            return 2
        runs.append(run)
    rows = build_matrix(runs)
    recorded = record_mismatches(runs)
    failures = [key for key, row in rows.items() if _failed(row)]
    mismatches = [key for key, row in rows.items() if _mismatch(row, backends) or key in recorded]
    code = 1 if failures or mismatches or not rows else 0
    if args.json:
        print(json.dumps({
            "backends": backends,
            "runs": {r.backend: {"exitstatus": r.exitstatus, "seconds": round(r.seconds, 2),
                                 "tests": len(r.outcomes)} for r in runs},
            "tests": rows, "failures": failures, "mismatches": mismatches,
            "recording_mismatches": recorded, "exit_code": code,
        }, indent=2))  # fmt: skip
        return code
    _print_matrix(rows, backends, failures, mismatches, full=args.full)
    for key, lines in recorded.items():
        print(f"{key}: " + "; ".join(lines))
    for run in runs:
        if any(_CLASS.get(o) == "fail" for o in run.outcomes.values()) and not args.show_output:
            tail = "\n".join("  " + line for line in run.output.strip().splitlines()[-12:])
            print(f"\n{run.backend}: end of pytest's output\n{tail}")
    print(
        f"\nparity: {len(rows)} tests x {len(backends)} backends: {len(failures)} failing, "
        f"{len(mismatches)} mismatched"
        + ("" if rows else " (no tests ran: check the PYTEST ARGS)")
        + "; runs: "
        + ", ".join(f"{r.backend} {r.seconds:.1f} s" for r in runs)
    )
    return code


def _backends(raw: str | None) -> list[str]:
    if raw is None:
        return parity_defaults()
    names = [n.strip() for n in raw.split(",") if n.strip()]
    unknown = [n for n in names if n not in known()]
    if unknown or not names:
        raise FlagError(
            f"--backends {raw!r}: unknown backend {', '.join(map(repr, unknown)) or '(none)'}; "
            f"valid backends: {', '.join(known())}"
        )
    return list(dict.fromkeys(names))


def _plugin_hint(run: BackendRun) -> str:
    if "--backends" in run.output and "unrecognized" in run.output:
        return (
            "; the shims-parity pytest plugin is not loaded (is migrate-toolkit installed in "
            "this environment, and PYTEST_DISABLE_PLUGIN_AUTOLOAD unset?)"
        )
    return ""


def run_backend(backend: str, pytest_args: list[str], *, show_output: bool) -> BackendRun:
    """Run pytest in a fresh process on ``backend`` and collect each test's outcome."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("MIGRATE_BACKEND_")}
    with tempfile.TemporaryDirectory(prefix="migrate-parity-") as tmp:
        report = Path(tmp) / "outcomes.json"
        env.update(MIGRATE_BACKEND=backend, MIGRATE_PARITY_REPORT=str(report))
        command = [sys.executable, "-m", "pytest", "-p", "migrate._parity",
                   "--backends", backend, *pytest_args]  # fmt: skip
        start = time.perf_counter()
        proc = subprocess.run(
            command, env=env, text=True, check=False,
            stdout=None if show_output else subprocess.PIPE,
            stderr=None if show_output else subprocess.STDOUT,
        )  # fmt: skip
        seconds = time.perf_counter() - start
        data: dict[str, Any] = {}
        if report.exists():
            data = json.loads(report.read_text(encoding="utf-8"))
    return BackendRun(
        backend, proc.returncode, data.get("outcomes", {}), proc.stdout or "", seconds,
        data.get("records", {}),
    )  # fmt: skip


def row_key(nodeid: str, backend: str) -> str | None:
    """Return the matrix row for ``nodeid`` seen in ``backend``'s run (None: not this run's)."""
    if not nodeid.endswith("]") or "[" not in nodeid:
        return nodeid
    base, _, params = nodeid[:-1].partition("[")
    parts = params.split("-")
    if any(p in known() and p != backend for p in parts):
        return None
    kept = [p for p in parts if p != backend]
    return f"{base}[{'-'.join(kept)}]" if kept else base


def build_matrix(runs: list[BackendRun]) -> dict[str, dict[str, str]]:
    """Return ``{row: {backend: outcome}}``, with ``-`` where a run did not have the row.

    A row is absent from a run when every id of it names other backends (e.g.
    ``test_x[legacy]`` only); like a skip, that is not a mismatch.
    """
    rows: dict[str, dict[str, str]] = {}
    for run in runs:
        for nodeid, outcome in run.outcomes.items():
            key = row_key(nodeid, run.backend)
            if key is not None:
                rows.setdefault(key, {})[run.backend] = outcome
    for row in rows.values():
        for run in runs:
            row.setdefault(run.backend, "-")
    return dict(sorted(rows.items()))


def record_mismatches(runs: list[BackendRun]) -> dict[str, list[str]]:
    """Return ``{row: [one line per differing key]}`` for ``parity.record`` values.

    The parity plugin compares recordings within one pytest run; with one
    backend per process, this is where they are compared across backends.
    """
    seen: dict[str, dict[str, dict[str, str]]] = {}
    for run in runs:
        for nodeid, values in run.records.items():
            key = row_key(nodeid, run.backend)
            if key is not None:
                seen.setdefault(key, {})[run.backend] = values
    out: dict[str, list[str]] = {}
    for key, per_backend in sorted(seen.items()):
        if len(per_backend) < 2:
            continue
        names = sorted({name for values in per_backend.values() for name in values})
        for name in names:
            shown = {b: v.get(name, "(not recorded)") for b, v in per_backend.items()}
            if len(set(shown.values())) > 1:
                detail = ", ".join(f"{b}={v}" for b, v in shown.items())
                out.setdefault(key, []).append(f"recorded {name!r} differs: {detail}")
    return out


def _failed(row: dict[str, str]) -> bool:
    return any(_CLASS.get(outcome) == "fail" for outcome in row.values())


def _mismatch(row: dict[str, str], backends: list[str]) -> bool:
    classes = {_CLASS.get(row[b], row[b]) for b in backends if row[b] not in ("skipped", "-")}
    return len(classes) > 1


def _print_matrix(
    rows: dict[str, dict[str, str]], backends: list[str], failures: list[str],
    mismatches: list[str], *, full: bool,
) -> None:  # fmt: skip
    shown = rows if full or len(rows) <= FULL_MATRIX_MAX else {
        k: v for k, v in rows.items() if k in failures or k in mismatches
    }  # fmt: skip
    if not shown:
        if rows:
            print(
                f"all {len(rows)} tests have the same outcome on every backend (--full lists them)"
            )
        return
    width = max(len("TEST"), *(len(k) for k in shown))
    cols = max(8, *(len(b) for b in backends))
    print(("TEST".ljust(width) + "  " + "  ".join(b.ljust(cols) for b in backends)).rstrip())
    for key, row in shown.items():
        cells = "  ".join(
            (row[b].upper() if _CLASS.get(row[b]) == "fail" else row[b]).ljust(cols)
            for b in backends
        )
        mark = "  <- mismatch" if key in mismatches else ""
        print(f"{key.ljust(width)}  {cells}".rstrip() + mark)
    if len(shown) < len(rows):
        print(f"({len(rows) - len(shown)} more rows identical on every backend; --full lists them)")


# -- the pytest plugin side, loaded into each run with -p migrate._parity ------------

_outcomes: dict[str, str] = {}
_records: dict[str, dict[str, str]] = {}


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
    for name, value in report.user_properties:  # the parity plugin's recordings
        if name == "parity_records" and isinstance(value, dict):
            _records[nodeid] = {str(k): str(v) for k, v in value.items()}


def pytest_collectreport(report: pytest.CollectReport) -> None:
    """Record a collection error (e.g. a test module that does not import)."""
    if report.failed:
        _outcomes[report.nodeid or "<collection>"] = "error"


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """Write the outcomes where ``migrate parity`` will read them."""
    target = os.environ.get("MIGRATE_PARITY_REPORT")
    if target:
        payload = {"outcomes": _outcomes, "records": _records, "exitstatus": int(exitstatus)}
        Path(target).write_text(json.dumps(payload), encoding="utf-8")
