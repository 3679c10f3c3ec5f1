"""Lint files from disk, in worker processes when there are many: for ``check`` and ``scan``.

A file is decoded as CPython would (``_runner.source``) and skipped when
marked ``@generated`` near the top; a file that cannot be read or decoded is
a MIG000 finding, never a crash. libcst (``engine``) is imported only once
there is a file to lint, so ``migrate --help`` stays fast.
"""

from __future__ import annotations

from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path

from .._runner.source import SourceError, decode_source, is_generated, read_source
from .rules import FileAnalysis, Finding

__all__ = ["analyze_file", "analyze_files"]

IN_PROCESS_MAX = 16  # below this many files, starting workers costs more than it saves


def analyze_file(path: Path, *, flipped: bool = False) -> FileAnalysis | None:
    """Read, decode and analyse one file; None when it is ``@generated``.

    A file that cannot be read or decoded gives one MIG000 finding.
    """
    try:
        data, _ = read_source(path)
        text = decode_source(data).text
    except SourceError as exc:
        return FileAnalysis((Finding("MIG000", 1, 1, f"could not read: {exc}", str(path)),), 0, 0)
    if is_generated(data):
        return None
    from .engine import analyze_source  # libcst: imported when there is a file to lint

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
