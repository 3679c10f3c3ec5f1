"""Helpers for the fleet tests: copy examples/fleet and convert it with the codemods.

The fleet is copied to a scratch directory and converted the way a company
would convert it: ``legacy-to-shim`` then ``generators-to-async --preset
legacy``, driven through the codemod classes exactly as the CLI drives them.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass, field
from pathlib import Path

import libcst
from libcst.codemod import CodemodContext

FLEET = Path(__file__).resolve().parents[2] / "examples" / "fleet"
IGNORE = shutil.ignore_patterns("__pycache__", ".pytest_cache", "*.pyc")


@dataclass
class Conversion:
    """A converted copy of the fleet and what the codemods said about it."""

    root: Path
    warnings: list[str] = field(default_factory=list)
    changed: list[str] = field(default_factory=list)


def copy_fleet(dest: Path) -> Path:
    """Copy examples/fleet (without caches) to ``dest`` and return it."""
    shutil.copytree(FLEET, dest, ignore=IGNORE)
    return dest


def convert(root: Path) -> Conversion:
    """Run legacy-to-shim, then generators-to-async --preset legacy, on every file in place."""
    from codemods.generators_to_async import GeneratorsToAsyncCommand
    from codemods.legacy_to_shim import LegacyToShimCommand

    steps: list[tuple[type, dict[str, str]]] = [
        (LegacyToShimCommand, {}),
        (GeneratorsToAsyncCommand, {"preset": "legacy"}),
    ]
    result = Conversion(root)
    for path in sorted(root.rglob("*.py")):
        rel = path.relative_to(root).as_posix()
        original = source = path.read_text(encoding="utf-8")
        for command, options in steps:
            context = CodemodContext(filename=str(path), full_module_name=None)
            tree = command(context, **options).transform_module(libcst.parse_module(source))
            source = tree.code
            result.warnings += [f"{rel}: {command.__name__}: {w}" for w in context.warnings]
        if source != original:
            path.write_text(source, encoding="utf-8")
            result.changed.append(rel)
    return result
