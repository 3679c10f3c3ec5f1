"""The ``migrate`` command line: argument parsing, subcommand wiring, error policy.

Every subcommand module exposes ``add_parser(subparsers)``, which registers
the subcommand and ``set_defaults(func=handler)`` with ``handler(args) -> int``.
Error policy: a user error is one line on stderr (``migrate: error: ...``)
and an exit code, never a traceback. Exit codes: 0 success, 1 the command
found something (failures, pending changes, findings, mismatches), 2 usage or
configuration error, 130 interrupted. ``MIGRATE_DEBUG=1`` re-raises
unexpected exceptions so a bug in the tool shows its traceback.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from collections.abc import Sequence
from typing import NoReturn

from shims import ShimError

__all__ = ["build_parser", "main"]

# One module per subcommand, in help order; each exposes ``add_parser(subparsers)``.
SUBCOMMANDS = (
    "migrate._commands.codemod",
    "migrate._commands.scan",
    "migrate._commands.check",
    "migrate._commands.flags",
    "migrate._commands.parity",
    "migrate._commands.demo",
    "migrate._commands.compare",
)


class _Parser(argparse.ArgumentParser):
    """An ArgumentParser whose usage errors are one line on stderr, exit code 2."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message} (see '{self.prog} --help')\n")


def build_parser() -> argparse.ArgumentParser:
    """Return the full ``migrate`` parser with every subcommand registered."""
    parser = _Parser(
        prog="migrate",
        description=(
            "Move services from an in-house async scheduler to asyncio/uvloop, one service "
            "at a time: codemods, readiness scan, lints, per-service flags, parity runs."
        ),
        epilog="Exit codes: 0 ok, 1 something to act on (failures, pending changes, "
        "findings, mismatches), 2 usage or configuration error.",
    )
    subparsers = parser.add_subparsers(title="commands", metavar="COMMAND", required=True)
    for name in SUBCOMMANDS:
        importlib.import_module(name).add_parser(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``migrate`` command line and return its exit code."""
    parser = build_parser()
    try:
        # Unknown arguments are an error, except for commands that pass them on
        # (``migrate parity -k pool tests/`` hands ``-k pool tests/`` to pytest).
        args, extra = parser.parse_known_args(argv)
        if extra and not getattr(args, "passthrough", False):
            parser.error(f"unrecognized arguments: {' '.join(extra)}")
        args.extra = extra
    except SystemExit as exc:  # --help, or a usage error already printed
        return exc.code if isinstance(exc.code, int) else 2
    try:
        code: int = args.func(args)
        return code
    except KeyboardInterrupt:
        print("migrate: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # e.g. `migrate codemod ... --diff | head`
        _silence_stdout()
        return 1
    except ShimError as exc:
        print(f"migrate: error: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:
        where = f" {exc.filename}" if exc.filename else ""
        print(f"migrate: error:{where}: {exc.strerror or exc}", file=sys.stderr)
        return 1
    except Exception as exc:
        if os.environ.get("MIGRATE_DEBUG") == "1":
            raise
        print(
            f"migrate: internal error: {type(exc).__name__}: {exc} "
            "(rerun with MIGRATE_DEBUG=1 for the traceback, and please report it)",
            file=sys.stderr,
        )
        return 3


def _silence_stdout() -> None:
    # Python flushes stdout at exit; after EPIPE that flush would print a traceback.
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    os.close(devnull)
