"""``python -m tests.realcode``: the real-code differential run of generators-to-async.

Prints one row per project (tests passed before and after conversion,
refusals, blockers left) and exits 1 when any project passes fewer tests
after conversion than before, had a library module it must convert
refused, or could not be run at all.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from .harness import Outcome, run_project
from .projects import PROJECTS


def _row(o: Outcome) -> str:
    p = o.project
    name = f"{p.name} {p.version}"
    if o.error or o.before is None or o.after is None or o.conversion is None:
        return f"| {name} | - | - | - | - | ERROR: {o.error} |"
    if o.not_converted:
        verdict = "NOT CONVERTED: " + ", ".join(o.not_converted)
    else:
        verdict = "ok" if o.ok else "LOST TESTS"
    return (
        f"| {name} | {o.before.passed} (py{p.before}) | {o.after.passed} (py{p.after}) "
        f"| {len(o.conversion.refused)} | {o.conversion.blockers} | {verdict} ({o.seconds:.0f} s) |"
    )


def main() -> int:
    parser = argparse.ArgumentParser(
        prog="python -m tests.realcode", description=__doc__.splitlines()[0]
    )
    parser.add_argument(
        "-k", dest="select", default="", help="only projects whose name contains this"
    )
    parser.add_argument(
        "-j", "--jobs", type=int, default=os.cpu_count() or 2, help="test files run at once"
    )
    parser.add_argument(
        "-v", "--verbose", action="store_true", help="per-file counts and every refusal"
    )
    parser.add_argument("--keep", type=Path, help="keep the unpacked trees under this directory")
    args = parser.parse_args()
    projects = [p for p in PROJECTS if args.select in p.name]
    if not projects:
        print(f"error: no project matches {args.select!r}", file=sys.stderr)
        return 2
    if args.keep is not None:
        args.keep.mkdir(parents=True, exist_ok=True)
    outcomes = []
    for project in projects:
        print(f"== {project.name} {project.version}", flush=True)
        outcome = run_project(project, args.jobs, args.keep)
        outcomes.append(outcome)
        if args.verbose and outcome.conversion is not None:
            for refusal in outcome.conversion.refused:
                print(f"   refused {refusal}")
        if args.verbose and outcome.before is not None and outcome.after is not None:
            for file, (before, _, note) in outcome.before.per_file.items():
                after, _, after_note = outcome.after.per_file.get(file, (0, 0, "not run"))
                mark = "  " if after >= before else "<<"
                print(f"   {mark} {file}: {before} -> {after}   [{note}] -> [{after_note}]")
        print(_row(outcome), flush=True)
    print()
    print("| project | passed before | passed after | refusals | blockers | verdict |")
    print("|---|---|---|---|---|---|")
    for outcome in outcomes:
        print(_row(outcome))
    return 0 if all(o.ok for o in outcomes) else 1


if __name__ == "__main__":
    sys.exit(main())
