"""legacy-to-shim: rewrite call sites of the in-house runtime to the ``shims`` API."""

from __future__ import annotations

from typing import ClassVar

from ._rename import SpecRenameCommand


class LegacyToShimCommand(SpecRenameCommand):
    """Rewrite ``legacy.runtime`` (or a company runtime, with ``spec``) to ``shims``.

    Renames, argument reshapes and import edits come from the TOML spec
    (default ``codemods/specs/legacy_runtime.toml``). What cannot be converted
    safely is left as it is and reported with ``self.warn``. Raises SpecError
    when the spec is invalid.
    """

    DESCRIPTION: str = "Rewrite legacy runtime calls to the shims API, as a TOML spec says."
    DEFAULT_SPEC: ClassVar[str] = "legacy_runtime.toml"
