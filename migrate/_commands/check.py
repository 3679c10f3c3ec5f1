"""``migrate check PATH...``: lint files for migration hazards with stable codes.

Theory of operation: files come from the codemod runner's walker
(``_runner.discover``: ``.gitignore``, ``--exclude``, no symlinks followed)
and are read by ``_lint.files`` (decoded as CPython would; files marked
``@generated`` near the top are skipped). Each file is linted once by the lint
engine (``_lint.engine``) with ``flipped`` set
when the file lies under the ``paths`` of a service whose backend is already
asyncio/uvloop (``ServiceIndex``). A file that cannot be read or parsed is a
MIG000 finding, never a crash. Exit status: 0 clean, 1 findings, 2 usage or
configuration error (one line on stderr).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections import Counter
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from shims import FlagError

from .._lint.files import analyze_files
from .._lint.rules import CODES, Finding
from .._runner.discover import discover
from .._services import ServiceIndex
from ._args import positive_int

__all__ = ["add_parser", "handler"]


def _codes(value: str) -> frozenset[str]:
    codes = frozenset(code.strip().upper() for code in value.split(",") if code.strip())
    unknown = sorted(codes - CODES.keys())
    if unknown:
        raise argparse.ArgumentTypeError(
            f"unknown code {unknown[0]!r}; known codes: {', '.join(CODES)}"
        )
    return codes


def add_parser(subparsers: Any) -> None:
    """Register ``check`` on an ``argparse`` subparsers object."""
    codes = "\n".join(f"  {code}  {text}" for code, text in CODES.items())
    parser = subparsers.add_parser(
        "check",
        help="lint for migration hazards (exit 1 on findings)",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description=f"Lint Python files for migration hazards.\n\ncodes:\n{codes}",
        epilog="suppress a finding with a comment on its line:\n"
        "  time.sleep(0.1)  # migrate: ignore[MIG002]\n"
        "  # migrate: ignore[MIG001,MIG002] for several codes, a bare # migrate: ignore for all\n\n"
        "exit codes: 0 clean, 1 findings, 2 usage or configuration error",
    )
    parser.add_argument("paths", nargs="+", type=Path, metavar="PATH", help="files or directories")
    parser.add_argument("--json", action="store_true", help="print a JSON report on stdout")
    parser.add_argument("--select", type=_codes, action="append", default=[], metavar="CODES",
                        help="only report these codes (comma-separated, repeatable)")  # fmt: skip
    parser.add_argument("--ignore", type=_codes, action="append", default=[], metavar="CODES",
                        help="never report these codes (comma-separated, repeatable)")  # fmt: skip
    parser.add_argument("--exclude", action="append", default=[], metavar="GLOB",
                        help="skip paths matching this gitignore-style pattern (repeatable)")  # fmt: skip
    parser.add_argument("-j", "--jobs", type=positive_int, default=os.cpu_count() or 1,
                        help="worker processes (default: the number of CPUs)")  # fmt: skip
    parser.set_defaults(func=handler)


def _fail(message: str) -> int:
    print(f"migrate check: error: {message}", file=sys.stderr)
    return 2


def handler(args: argparse.Namespace) -> int:
    """Run ``migrate check``; return 0 when clean, 1 on findings, 2 on usage errors."""
    paths: list[Path] = args.paths
    missing = [p for p in paths if not os.path.lexists(p)]
    if missing:
        return _fail(f"no such file or directory: {str(missing[0])!r}")
    selected: frozenset[str] = frozenset().union(*args.select) if args.select else frozenset(CODES)
    ignored: frozenset[str] = frozenset().union(*args.ignore)
    wanted = selected - ignored
    found = discover(paths, excludes=args.exclude)
    try:
        indexes = {p: ServiceIndex.for_path(p) for p in paths}
        items = [(path, _flipped(path, indexes)) for path in found.files]
    except FlagError as exc:
        return _fail(str(exc))
    results = [r for r in analyze_files(items, jobs=args.jobs) if r is not None]
    checked = len(results)
    findings = [f for r in results for f in r.findings if f.code in wanted]
    for skipped, reason in found.skipped:
        print(f"{skipped}: skipped: {reason}", file=sys.stderr)
    findings.sort(key=lambda f: (f.filename, f.line, f.col, f.code))
    if args.json:
        print(json.dumps(_report(findings, checked), indent=2))
    else:
        for finding in findings:
            print(finding.format())
        files = len({f.filename for f in findings})
        summary = f"{len(findings)} finding{'s' * (len(findings) != 1)} in {files} file{'s' * (files != 1)}"
        print(f"{summary} ({checked} checked)" if findings else f"clean ({checked} files checked)",
              file=sys.stderr)  # fmt: skip
    return 1 if findings else 0


def _flipped(path: Path, indexes: Mapping[Path, ServiceIndex | None]) -> bool:
    index = next((i for given, i in indexes.items() if _under(path, given)), None)
    service = index.service_of(path) if index else None
    return bool(index and service and index.flipped(service))


def _under(path: Path, given: Path) -> bool:
    full, root = Path(os.path.abspath(path)), Path(os.path.abspath(given))
    return full == root or full.is_relative_to(root)


def _report(findings: Sequence[Finding], checked: int) -> dict[str, Any]:
    return {
        "files_checked": checked,
        "counts": dict(sorted(Counter(f.code for f in findings).items())),
        "findings": [
            {"path": f.filename, "line": f.line, "col": f.col, "code": f.code, "message": f.message}
            for f in findings
        ],
    }
