"""``migrate compare``: is the candidate cohort worse than the baseline? (the rollout gate).

The engine is ``migrate._compare`` (its docstring has the theory: one number
per instance and metric over one window, a Mann-Whitney U test per metric);
this module is the command line: arguments, exit codes, output.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from .._compare.measure import measure
from .._compare.settings import CompareError, load_settings, replace
from .._compare.verdict import as_json, judge, render

__all__ = ["add_parser"]


def add_parser(subparsers: Any) -> None:
    """Register ``migrate compare``."""
    parser = subparsers.add_parser(
        "compare",
        help="compare a candidate cohort's shim metrics with a baseline cohort (a rollout gate)",
        description=(
            "Reduce every instance to one value per metric over the same window (counter "
            "increase per second, histogram mean), compare the cohorts per metric with a "
            "one-sided Mann-Whitney U test, and fail when a critical metric got worse. "
            "SRC: an http(s):// metrics URL (scraped at the start and end of --duration), a "
            "file with one instance's exposition (counters from zero), or "
            'prom+http://HOST:PORT?selector={job="x",cohort="a"}[&by=instance] (a '
            "Prometheus server, the window ending now). Settings: [tool.migrate.compare]."
        ),
        epilog="Exit codes: 0 pass, 1 regression (named), 2 bad input or too few instances.",
    )
    parser.add_argument("--baseline", nargs="+", required=True, metavar="SRC")
    parser.add_argument("--candidate", nargs="+", required=True, metavar="SRC")
    parser.add_argument(
        "--duration", type=float, metavar="SECONDS",
        help="window length (default: [tool.migrate.compare] duration, else 60)",
    )  # fmt: skip
    parser.add_argument("--config", type=Path, help="config file instead of the usual search")
    parser.add_argument("--json", action="store_true", help="machine-readable output")
    parser.set_defaults(func=_main)


def _main(args: argparse.Namespace) -> int:
    try:
        settings = load_settings(args.config)
        if args.duration is not None:
            if not args.duration > 0:
                raise CompareError(f"--duration must be positive, got {args.duration!r}")
            settings = replace(settings, duration=args.duration)
        baseline, candidate = measure(args.baseline, args.candidate, settings)
        rows = judge(baseline, candidate, settings)
    except CompareError as exc:
        print(f"migrate compare: error: {exc}", file=sys.stderr)
        return 2
    failed = [r.metric for r in rows if r.verdict == "REGRESSION"]
    if args.json:
        print(json.dumps(as_json(rows, failed, baseline, candidate, settings), indent=2))
    else:
        print(render(rows))
        where = f"{len(baseline)} baseline, {len(candidate)} candidate instances, "
        where += f"{settings.duration:g} s window"
        if failed:
            print(f"compare: REGRESSION in {', '.join(failed)} ({where})")
        else:
            print(f"compare: pass ({where})")
    return 1 if failed else 0
