"""Run every benchmark in this folder, one after another: ``python benchmarks/run.py [--quick]``.

Each ``bench_*.py`` is a standalone script that compares the toolkit with its
named baseline side by side in the same run and prints medians and ratios.
``--quick`` is passed through (a smoke run, as CI does); ``-k NAME`` runs only
the benchmarks whose file name contains NAME.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="short smoke run of each benchmark")
    parser.add_argument("-k", dest="select", default="", help="only files whose name contains this")
    args = parser.parse_args()
    scripts = sorted(p for p in HERE.glob("bench_*.py") if args.select in p.name)
    if not scripts:
        print(f"no benchmark matches {args.select!r}", file=sys.stderr)
        return 2
    failed = []
    for script in scripts:
        print(f"\n######## {script.name}", flush=True)
        cmd = [sys.executable, str(script)] + (["--quick"] if args.quick else [])
        if subprocess.run(cmd, check=False).returncode != 0:
            failed.append(script.name)
    if failed:
        print(f"\nbenchmarks that failed to run: {', '.join(failed)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
