"""``migrate codemod NAME PATH...``: run one codemod over a tree, fast and safely.

Theory of operation: files are discovered (``_discover``), then read once in
this process for two cheap checks that avoid parsing: an ``@generated``
marker in the first lines, and the command's text prefilter
(``Cls.prefilter(**options)``: a file containing none of the returned byte
strings cannot need a change). Only the remaining candidates are parsed, in
``--jobs`` worker processes fed in chunks (``_worker``); a worker process
that dies takes only its own file down: the chunks it broke are re-run in
fresh processes, halved until the file that kills its worker is alone (a
file the dead worker had already rewritten is still reported as changed,
by comparing it with the digest taken here). A few candidates are processed
in this process, since starting workers would cost more than it saves.

The codemod machinery (``_worker``, libcst) is imported only when a run
starts, so the other ``migrate`` commands and ``--help`` start quickly.

legacy-to-shim's ``service`` option is decided here, per candidate file, from
the services' ``paths`` (``_service_lookup``, the same mapping as ``migrate
check``) unless ``--service`` fixes it; it travels with the file's task.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import sys
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path
from typing import Any

from ._discover import discover
from ._jobs import FileResult, Job, Task
from ._report import Progress, RunReport, stderr_is_terminal
from ._services import ServiceIndex
from ._source import SourceError, read_source

__all__ = ["add_parser", "run_codemod"]

GENERATED_MARKER = b"@generated"
GENERATED_LINES = 10
IN_PROCESS_MAX = 4  # candidates at or below this are not worth starting workers for
PROGRESS_MIN = 50  # a run parsing fewer files than this shows no progress bar
# codemods._gen_presets.PRESETS (not imported: commands start without libcst;
# tests/migrate/test_twisted_cli.py checks the two agree)
PRESETS = ("legacy", "tornado", "asyncio", "twisted")


class UsageError(Exception):
    """The command line asks for something impossible (exit code 2)."""


def add_parser(subparsers: Any) -> None:
    """Register ``migrate codemod``."""
    parser = subparsers.add_parser(
        "codemod",
        help="rewrite code with a codemod (legacy-to-shim, generators-to-async, shim-to-asyncio)",
        description=(
            "Run one codemod over files and directories. Directories are walked for *.py "
            "files, skipping what .gitignore ignores, generated files (@generated in the first "
            "lines), --exclude patterns and symlinks. Files are rewritten in place atomically "
            "unless --diff or --check is given. Exit codes: 0 done, 1 a file failed or (with "
            "--check) changes are pending, 2 usage error."
        ),
    )
    parser.add_argument(
        "name",
        metavar="NAME",
        help="legacy-to-shim, generators-to-async, shim-to-asyncio, or a dotted "
        "module.Class path to any libcst Codemod",
    )
    parser.add_argument("paths", metavar="PATH", nargs="+", type=Path, help="files or directories")
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--diff", action="store_true", help="print a unified diff, write nothing")
    mode.add_argument(
        "--check", action="store_true", help="write nothing; exit 1 if any file would change"
    )
    parser.add_argument(
        "--json", action="store_true", help="print a machine-readable JSON report on stdout"
    )
    parser.add_argument(
        "-j", "--jobs", type=_positive_int, default=os.cpu_count() or 1,
        help="worker processes (default: the number of CPUs, %(default)s here)",
    )  # fmt: skip
    parser.add_argument(
        "--exclude", action="append", default=[], metavar="PATTERN",
        help="skip paths matching this .gitignore-style pattern, relative to each PATH "
        "(repeatable)",
    )  # fmt: skip
    parser.add_argument(
        "--preset", choices=PRESETS, default=None,
        help="generators-to-async: which coroutine style to convert (default: legacy)",
    )  # fmt: skip
    parser.add_argument(
        "--keep-api", action="store_true",
        help="generators-to-async --preset twisted: converted public functions keep returning a "
        "Deferred (default: they return a coroutine, and the run lists them)",
    )  # fmt: skip
    parser.add_argument(
        "--spec", type=Path, default=None, metavar="TOML|NAME",
        help="legacy-to-shim: mapping spec for your runtime, a TOML file or a bundled spec's "
        "name (twisted) (default: the bundled legacy.runtime spec)",
    )  # fmt: skip
    parser.add_argument(
        "--service", default=None, metavar="NAME",
        help='legacy-to-shim: give every converted run() call service="NAME" (default: the '
        "service whose paths in the config file contain the file, none outside every service)",
    )  # fmt: skip
    parser.add_argument(
        "-v", "--verbose", action="store_true", help="also list generated files that were skipped"
    )
    parser.set_defaults(func=_handle)


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}")
    return value


def _handle(args: argparse.Namespace) -> int:
    mode = "diff" if args.diff else "check" if args.check else "write"
    try:
        missing = [str(p) for p in args.paths if not os.path.lexists(p)]
        if missing:
            raise UsageError(f"no such file or directory: {', '.join(map(repr, missing))}")
        job, tokens = _prepare(
            args.name, mode, preset=args.preset, spec=args.spec, service=args.service,
            keep_api=args.keep_api,
        )  # fmt: skip
        services = _service_lookup(job, args.paths)
    except UsageError as exc:
        print(f"migrate codemod: error: {exc}", file=sys.stderr)
        return 2
    report = run_codemod(
        job, tokens, args.paths, jobs=args.jobs, excludes=args.exclude,
        json_output=args.json, verbose=args.verbose, services=services,
    )  # fmt: skip
    return report.exit_code()


def _prepare(
    name: str,
    mode: str,
    *,
    preset: str | None,
    spec: Path | None,
    service: str | None = None,
    keep_api: bool = False,
) -> tuple[Job, tuple[bytes, ...]]:
    from libcst.codemod import CodemodContext

    from ._worker import load_command

    try:
        cls = load_command(name)
    except LookupError as exc:
        raise UsageError(str(exc)) from exc
    options: dict[str, Any] = {}
    dotted = "." in name
    if spec is not None:
        if not dotted and name != "legacy-to-shim":
            raise UsageError(f"--spec only applies to legacy-to-shim, not {name!r}")
        if spec.is_file():
            options["spec"] = str(spec.resolve())
        elif len(spec.parts) == 1 and not spec.suffix:
            options["spec"] = str(spec)  # a bundled spec's name (twisted): the command resolves it
        else:
            raise UsageError(f"--spec {str(spec)!r} is not a file")
    if preset is not None and not dotted and name != "generators-to-async":
        raise UsageError(f"--preset only applies to generators-to-async, not {name!r}")
    if name == "generators-to-async" or preset is not None:
        options["preset"] = preset or "legacy"
    if keep_api:
        if options.get("preset") != "twisted":
            raise UsageError("--keep-api only applies to generators-to-async --preset twisted")
        options["keep_api"] = True
    if service is not None:
        if not _takes_service(name, cls):
            raise UsageError(f"--service only applies to legacy-to-shim, not {name!r}")
        options["service"] = service
    try:
        cls(CodemodContext(), **options)  # fail early on a bad spec, not once per file
        prefilter: Callable[..., tuple[bytes, ...]] | None = getattr(cls, "prefilter", None)
        tokens = tuple(prefilter(**options)) if prefilter is not None else ()
    except Exception as exc:
        raise UsageError(f"cannot set up {name}: {exc}") from exc
    return Job(name, tuple(sorted(options.items())), mode), tokens


def _takes_service(name: str, cls: type) -> bool:
    """Return True for legacy-to-shim (or a subclass named by its dotted path)."""
    from codemods.legacy_to_shim import LegacyToShimCommand

    return name == "legacy-to-shim" or (
        isinstance(cls, type) and issubclass(cls, LegacyToShimCommand)
    )


ServiceLookup = Callable[[Path], "str | None"]


def _service_lookup(job: Job, paths: Sequence[Path]) -> ServiceLookup | None:
    """Return a function giving each file's service, or None when no per-file service applies.

    It applies to legacy-to-shim without ``--service``: a file gets the service
    whose ``paths`` (in the config file in effect for the PATH it was found
    under, as ``shims.find_config`` finds it) most specifically contain it,
    exactly as ``migrate check`` maps files (``ServiceIndex``). Every service
    name is tried on the command first, so a name it rejects is a usage error.

    Raises:
        UsageError: a config file is malformed, or a service name is unusable.
    """
    from libcst.codemod import CodemodContext

    from ._worker import load_command

    cls = load_command(job.command)
    if "service" in dict(job.options) or not _takes_service(job.command, cls):
        return None
    from shims import FlagError

    try:
        indexes = [(Path(os.path.abspath(p)), ServiceIndex.for_path(p)) for p in paths]
    except FlagError as exc:
        raise UsageError(f"{exc} (or pass --service NAME to choose the service yourself)") from exc
    found = [index for _, index in indexes if index is not None]
    if not found:
        return None
    for index in found:
        for name in index.config.services:
            try:
                cls(CodemodContext(), **{**dict(job.options), "service": name})
            except Exception as exc:
                raise UsageError(f"service {name!r} in {str(index.config.path)!r}: {exc}") from exc

    def service_of(path: Path) -> str | None:
        full = Path(os.path.abspath(path))
        for given, index in indexes:
            if index is not None and (full == given or full.is_relative_to(given)):
                return index.service_of(full)
        return None

    return service_of


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
    head = data[:4096].split(b"\n", GENERATED_LINES)[:GENERATED_LINES]
    if any(GENERATED_MARKER in line for line in head):
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
    from ._worker import init_worker, process_chunk, process_file

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
    from ._worker import init_worker, process_chunk

    with ProcessPoolExecutor(max_workers=1, initializer=init_worker, initargs=(job,)) as pool:
        try:
            return pool.submit(process_chunk, paths).result()
        except BrokenProcessPool:
            pass
    if len(paths) == 1:
        return [FileResult(paths[0][0], "failed", "the worker process crashed on this file")]
    half = len(paths) // 2
    return _isolated(job, paths[:half]) + _isolated(job, paths[half:])
