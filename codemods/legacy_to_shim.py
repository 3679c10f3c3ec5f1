"""legacy-to-shim: rewrite call sites of the in-house runtime to the ``shims`` API."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import ClassVar

from libcst.codemod import CodemodContext

from ._rename.command import SpecRenameCommand


class LegacyToShimCommand(SpecRenameCommand):
    """Rewrite ``legacy.runtime`` (or a company runtime, with ``spec``) to ``shims``.

    Renames, argument reshapes and import edits come from the TOML spec
    (default ``codemods/specs/legacy_runtime.toml``). What cannot be converted
    safely is left as it is and reported with ``self.warn``.

    ``service`` (``--service NAME``): the service the files belong to. Every
    converted call of a spec rule with a ``service`` key (the bundled spec:
    ``run``) then gets ``service="NAME"`` appended, so the service's own flag
    (``[tool.migrate.services.NAME]``, ``MIGRATE_BACKEND_<NAME>``) picks its
    backend: ``runtime.run(main)`` -> ``shims.run(main, service="NAME")``. A
    call that already passes ``service=`` or ``backend=`` is left as it is; a
    ``run`` passed around uncalled, or called with ``**kwargs``, is converted
    without it and reported. Without ``service`` no call gets one.

    Raises SpecError when the spec is invalid, ValueError when ``service`` is
    not a non-empty printable name.
    """

    DESCRIPTION: str = "Rewrite legacy runtime calls to the shims API, as a TOML spec says."
    DEFAULT_SPEC: ClassVar[str] = "legacy_runtime.toml"

    @staticmethod
    def add_args(arg_parser: argparse.ArgumentParser) -> None:
        """Add ``--spec PATH`` and ``--service NAME``."""
        SpecRenameCommand.add_args(arg_parser)
        arg_parser.add_argument(
            "--service",
            dest="service",
            default=None,
            metavar="NAME",
            help='pass service="NAME" to the converted run() calls, so the '
            "service's own backend flag applies (default: none)",
        )

    def __init__(
        self,
        context: CodemodContext,
        spec: str | Path | None = None,
        service: str | None = None,
    ) -> None:
        """Load the spec and check ``service``; raises SpecError or ValueError."""
        super().__init__(context, spec)
        if service is not None and (
            not isinstance(service, str)
            or not service
            or service != service.strip()
            or not service.isprintable()
        ):
            raise ValueError(
                "service must be a service name such as 'pdf-export' (non-empty, "
                f"printable, no surrounding spaces), got {service!r}"
            )
        self.service = service

    @classmethod
    def prefilter(cls, **options: object) -> tuple[bytes, ...]:
        """Return the source module's top package, e.g. ``(b"legacy",)``.

        Takes the same options as the constructor (``spec``, ``service``);
        ``service`` does not change the result: a file that does not mention
        the source module has no ``run`` call to give a service name to.
        """
        return super().prefilter(**options)
