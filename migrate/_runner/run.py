"""Run one codemod over discovered files, fast and safely: the engine of ``migrate codemod``.

Theory of operation: files are discovered (``discover``), then read once in
this process for two cheap checks that avoid parsing: an ``@generated``
marker in the first lines, and the command's text prefilter
(``Cls.prefilter(**options)``: a file containing none of the returned byte
strings cannot need a change). Only the remaining candidates are parsed, in
``jobs`` worker processes fed in chunks (``worker``); a worker process
that dies takes only its own file down: the chunks it broke are re-run in
fresh processes, halved until the file that kills its worker is alone (a
file the dead worker had already rewritten is still reported as changed,
by comparing it with the digest taken here). A few candidates are processed
in this process, since starting workers would cost more than it saves.

The codemod machinery (``worker``, libcst) is imported only when a run
starts, so the other ``migrate`` commands and ``--help`` start quickly.
"""

from __future__ import annotations

import hashlib
import sys
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path

from .discover import discover
from .jobs import FileResult, Job, Task
from .report import Progress, RunReport, stderr_is_terminal
from .source import SourceError, is_generated, read_source

__all__ = ["ServiceLookup", "run_codemod"]

IN_PROCESS_MAX = 4  # candidates at or below this are not worth starting workers for
PROGRESS_MIN = 50  # a run parsing fewer files than this shows no progress bar

#: A file's service name (legacy-to-shim's per-file ``service`` option), or None.
ServiceLookup = Callable[[Path], "str | None"]


def run_codemod(
    job: Job,
    tokens: tuple[bytes, ...],
    paths: Sequence[Path],
    *,
    jobs: int,
    excludes: Sequence[str] = (),
    json_output: bool = False,
    verbose: bool = False,
    services: ServiceLookup | None = None,
) -> RunReport:
    """Discover, filter and process files; print lines, diffs, summary or JSON; return the report.

    ``services`` gives a file's service name (legacy-to-shim's per-file
    ``service`` option); None, or a None answer, leaves the job's options as they are.
    """
    start = time.perf_counter()
    report = RunReport(codemod=job.command, mode=job.mode)
    found = discover(paths, excludes=excludes)
    report.seen = len(found.files) + len(found.skipped)
    report.ignored = found.ignored
    quiet = json_output
    out = Progress(0, stream=sys.stderr, enabled=False, label="")

    def emit(result: FileResult) -> None:
        report.add(result)
        if quiet:
            return
        if result.diff:
            out.close()
            sys.stdout.write(result.diff)
            sys.stdout.flush()
        for line in report.file_lines(result, verbose=verbose):
            out.print(line)

    for path, reason in found.skipped:
        emit(FileResult(str(path), "skipped", reason))
    candidates: list[Task] = []
    digests: dict[str, bytes] = {}  # to tell, after a worker crash, what it had written
    for path in found.files:
        early = _cheap_checks(path, tokens)
        if isinstance(early, bytes):
            service = services(path) if services is not None else None
            candidates.append((str(path), (("service", service),) if service else ()))
            digests[str(path)] = early
        else:
            emit(early)
    out = Progress(
        len(candidates), stream=sys.stderr, label=f"{job.command}",
        enabled=not quiet and len(candidates) >= PROGRESS_MIN and stderr_is_terminal(),
    )  # fmt: skip
    _dispatch(job, candidates, jobs, emit, out, digests)
    out.close()
    report.elapsed = time.perf_counter() - start
    if json_output:
        print(report.to_json())
    else:
        print(report.summary(), file=sys.stderr)
    return report


def _cheap_checks(path: Path, tokens: tuple[bytes, ...]) -> FileResult | bytes:
    """Return a final result when the file needs no parse, else a digest of its bytes."""
    try:
        data, _ = read_source(path)
    except SourceError as exc:
        return FileResult(str(path), "failed", str(exc))
    if is_generated(data):
        return FileResult(str(path), "skipped", "generated file (@generated marker)")
    if tokens and not any(token in data for token in tokens):
        return FileResult(str(path), "unchanged")
    return _digest(data)


def _digest(data: bytes) -> bytes:
    return hashlib.blake2b(data, digest_size=16).digest()


def _dispatch(
    job: Job,
    paths: list[Task],
    jobs: int,
    emit: Callable[[FileResult], None],
    out: Progress,
    digests: dict[str, bytes],
) -> None:
    from .worker import init_worker, process_chunk, process_file

    if jobs == 1 or len(paths) <= IN_PROCESS_MAX:
        init_worker(job)
        for path, extra in paths:
            result = process_file(path, extra)
            out.advance()
            emit(result)
        return
    size = max(1, min(32, len(paths) // (jobs * 4)))
    chunks = [paths[i : i + size] for i in range(0, len(paths), size)]
    crashed: list[list[Task]] = []
    with ProcessPoolExecutor(
        max_workers=min(jobs, len(chunks)), initializer=init_worker, initargs=(job,)
    ) as pool:
        futures: list[Future[list[FileResult]]] = [pool.submit(process_chunk, c) for c in chunks]
        for chunk, future in zip(chunks, futures, strict=True):
            try:
                results = future.result()
            except BrokenProcessPool:
                crashed.append(chunk)
                continue
            for result in results:
                out.advance()
                emit(result)
    for chunk in crashed:
        for result in _isolated(job, chunk):
            if result.status == "unchanged" and _written_before_crash(result.path, digests):
                result.status = "changed"  # the dead worker had rewritten it already
            out.advance()
            emit(result)


def _written_before_crash(path: str, digests: dict[str, bytes]) -> bool:
    try:
        data, _ = read_source(Path(path))
    except SourceError:
        return False
    return _digest(data) != digests.get(path)


def _isolated(job: Job, paths: list[Task]) -> list[FileResult]:
    """Re-run a chunk whose worker died in a fresh process, halving it until the culprit is alone.

    A dead worker breaks the whole pool, so every pending chunk lands here; most
    then complete in one go, and a crashing file costs about log2(chunk) extra
    processes before it is pinned and reported on its own.
    """
    from .worker import init_worker, process_chunk

    with ProcessPoolExecutor(max_workers=1, initializer=init_worker, initargs=(job,)) as pool:
        try:
            return pool.submit(process_chunk, paths).result()
        except BrokenProcessPool:
            pass
    if len(paths) == 1:
        return [FileResult(paths[0][0], "failed", "the worker process crashed on this file")]
    half = len(paths) // 2
    return _isolated(job, paths[:half]) + _isolated(job, paths[half:])
