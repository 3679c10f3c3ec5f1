"""``migrate scan [PATH]``: per-service migration readiness as a table or JSON.

The report itself is ``scan_path`` (``_lint.readiness``); this module renders it.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from shims import FlagError

from .._lint.readiness import ServiceReport, scan_path
from ._args import positive_int

__all__ = ["add_parser", "handler", "render_table"]


_COLUMNS = ("SERVICE", "BACKEND", "ROLLOUT", "FILES", "LEGACY", "GENERATORS", "HAND WORK",
            "FINDINGS", "VERDICT", "FLAG SOURCE")  # fmt: skip
_NUMERIC = frozenset({"ROLLOUT", "FILES", "LEGACY", "GENERATORS", "HAND WORK"})


def render_table(reports: Sequence[ServiceReport], *, cwd: Path | None = None) -> str:
    """Return the reports as an aligned text table (one row per service).

    Absolute paths in the flag source are shown relative to ``cwd`` when
    they lie under it, to keep rows short.
    """
    base = str(Path(os.path.abspath(cwd or Path.cwd()))) + os.sep
    rows = [_COLUMNS]
    for r in reports:
        findings = " ".join(f"{code}:{n}" for code, n in r.findings.items()) or "-"
        rollout = "-" if r.rollout is None else f"{r.rollout}%"
        rows.append((r.name, r.backend, rollout, str(r.files), str(r.legacy_sites),
                     str(r.generator_coroutines), str(r.hand_work), findings, r.verdict,
                     r.source.replace(base, "")))  # fmt: skip
    widths = [max(len(row[i]) for row in rows) for i in range(len(_COLUMNS))]
    lines = []
    for row in rows:
        cells = [
            cell.rjust(width) if column in _NUMERIC and row is not rows[0] else cell.ljust(width)
            for cell, width, column in zip(row, widths, _COLUMNS, strict=True)
        ]
        lines.append("  ".join(cells).rstrip())
    return "\n".join(lines)


def add_parser(subparsers: Any) -> None:
    """Register ``scan`` on an ``argparse`` subparsers object."""
    parser = subparsers.add_parser(
        "scan",
        help="show each service's migration readiness",
        description="Per service from [tool.migrate.services]: legacy call sites left, "
        "generator coroutines left, Twisted protocol classes (hand work), lint findings by "
        "code, the current flag and rollout, and a verdict.",
    )
    parser.add_argument("path", nargs="?", default=Path("."), type=Path, metavar="PATH",
                        help="project directory or a part of it (default: .)")  # fmt: skip
    parser.add_argument("--json", action="store_true", help="print a JSON report for dashboards")
    parser.add_argument("-j", "--jobs", type=positive_int, default=os.cpu_count() or 1,
                        help="worker processes (default: the number of CPUs)")  # fmt: skip
    parser.set_defaults(func=handler)


def handler(args: argparse.Namespace) -> int:
    """Run ``migrate scan``; return 0, or 2 on a configuration error (one line on stderr)."""
    try:
        reports = scan_path(args.path, jobs=args.jobs)
    except FlagError as exc:
        print(f"migrate scan: error: {exc}", file=sys.stderr)
        return 2
    if args.json:
        payload = {"services": [dataclasses.asdict(r) for r in reports]}
        print(json.dumps(payload, indent=2))
    else:
        print(render_table(reports) if reports else "no services configured")
    for report in reports:
        for error in report.errors:
            print(f"migrate scan: error: service {report.name!r}: {error}", file=sys.stderr)
    return 2 if any(r.errors for r in reports) else 0
