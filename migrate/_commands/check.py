"""``migrate check PATH...``: lint files for migration hazards with stable codes.

Theory of operation: files come from the codemod runner's walker
(``_discover``: ``.gitignore``, ``--exclude``, no symlinks followed) and are
decoded as CPython would (``_source``); files marked ``@generated`` near the
top are skipped. Each file is linted once by ``_lints`` with ``flipped`` set
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
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path
from typing import Any

from shims import FlagError

from .._lint.rules import CODES, FileAnalysis, Finding
from .._runner.discover import discover
from .._runner.source import SourceError, decode_source, read_source
from .._services import ServiceIndex
from .codemod import GENERATED_LINES, GENERATED_MARKER

__all__ = [
    "CODES",
    "Finding",
    "add_parser",
    "analyze_file",
    "analyze_files",
    "handler",
    "is_generated",
]

IN_PROCESS_MAX = 16  # below this many files, starting workers costs more than it saves


def is_generated(text: str) -> bool:
    """Return True for a file marked ``@generated`` in its first lines (the codemod runner's rule)."""
    head = text[:4096].split("\n", GENERATED_LINES)[:GENERATED_LINES]
    marker = GENERATED_MARKER.decode()
    return any(marker in line for line in head)


def analyze_file(path: Path, *, flipped: bool = False) -> FileAnalysis | None:
    """Read, decode and analyse one file; None when it is ``@generated``.

    A file that cannot be read or decoded gives one MIG000 finding.
    """
    try:
        data, _ = read_source(path)
        text = decode_source(data).text
    except SourceError as exc:
        return FileAnalysis((Finding("MIG000", 1, 1, f"could not read: {exc}", str(path)),), 0, 0)
    if is_generated(text):
        return None
    from .._lint.engine import analyze_source  # libcst: imported when there is a file to lint

    return analyze_source(text, str(path), flipped=flipped)


def _analyze_item(item: tuple[Path, bool]) -> FileAnalysis | None:
    return analyze_file(item[0], flipped=item[1])


def analyze_files(
    items: Sequence[tuple[Path, bool]], *, jobs: int = 1
) -> list[FileAnalysis | None]:
    """Analyse ``(path, flipped)`` pairs, in ``jobs`` worker processes when worth it.

    Results come back in the order of ``items``. Parsing dominates the cost,
    so a few files are done in this process; if a worker process dies, the
    whole batch is redone here.
    """
    if jobs <= 1 or len(items) <= IN_PROCESS_MAX:
        return [_analyze_item(item) for item in items]
    chunksize = max(1, min(32, len(items) // (jobs * 4)))
    try:
        with ProcessPoolExecutor(max_workers=jobs) as pool:
            return list(pool.map(_analyze_item, items, chunksize=chunksize))
    except BrokenProcessPool:
        return [_analyze_item(item) for item in items]


def positive_int(text: str) -> int:
    """Parse a ``--jobs`` value (argparse type)."""
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}")
    return value


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
