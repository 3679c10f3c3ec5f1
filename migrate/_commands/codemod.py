"""``migrate codemod NAME PATH...``: run one codemod over a tree (the engine is ``_runner``).

This module turns the command line into a ``Job``: the command class, its
options (checked once here, so a bad spec fails before any file is read) and
the mode. legacy-to-shim's ``service`` option is decided per candidate file,
from the services' ``paths`` (``_service_lookup``, the same mapping as
``migrate check``) unless ``--service`` fixes it; it travels with the file's task.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from .._runner.jobs import Job
from .._runner.run import ServiceLookup, run_codemod
from .._services import ServiceIndex
from ._args import LazyChoices, positive_int

__all__ = ["add_parser"]


def _presets() -> list[str]:
    from codemods._generators.presets import PRESETS

    return list(PRESETS)


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
        "-j", "--jobs", type=positive_int, default=os.cpu_count() or 1,
        help="worker processes (default: the number of CPUs, %(default)s here)",
    )  # fmt: skip
    parser.add_argument(
        "--exclude", action="append", default=[], metavar="PATTERN",
        help="skip paths matching this .gitignore-style pattern, relative to each PATH "
        "(repeatable)",
    )  # fmt: skip
    parser.add_argument(
        "--preset", choices=LazyChoices(_presets), default=None, metavar="PRESET",
        help="generators-to-async: which coroutine style to convert (%(choices)s; "
        "default: legacy)",
    )  # fmt: skip
    parser.add_argument(
        "--coroutine-decorator", action="append", default=[], metavar="NAME",
        dest="coroutine_decorators",
        help="generators-to-async: a decorator (qualified or local name) that runs the "
        "generator it wraps as a coroutine, e.g. a test runner's; such generators become "
        "async def (repeatable)",
    )  # fmt: skip
    parser.add_argument(
        "--awaitable-returns", choices=("refuse", "check"), default=None,
        help="generators-to-async --preset asyncio: a coroutine without yield that returns a "
        "value which may be awaitable: refuse the file (refuse, the default) or await the "
        "value at run time when it is awaitable (check)",
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


def _handle(args: argparse.Namespace) -> int:
    mode = "diff" if args.diff else "check" if args.check else "write"
    try:
        missing = [str(p) for p in args.paths if not os.path.lexists(p)]
        if missing:
            raise UsageError(f"no such file or directory: {', '.join(map(repr, missing))}")
        job, tokens = _prepare(
            args.name, mode, preset=args.preset, spec=args.spec, service=args.service,
            keep_api=args.keep_api, coroutine_decorators=args.coroutine_decorators,
            awaitable_returns=args.awaitable_returns,
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
    coroutine_decorators: Sequence[str] = (),
    awaitable_returns: str | None = None,
) -> tuple[Job, tuple[bytes, ...]]:
    from libcst.codemod import CodemodContext

    from .._runner.worker import load_command

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
    generator_only = {
        "--coroutine-decorator": ("coroutine_decorators", tuple(coroutine_decorators)),
        "--awaitable-returns": ("awaitable_returns", awaitable_returns),
    }
    for flag, (key, value) in generator_only.items():
        if value:
            if "preset" not in options:
                raise UsageError(f"{flag} only applies to generators-to-async, not {name!r}")
            options[key] = value
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

    from .._runner.worker import load_command

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
