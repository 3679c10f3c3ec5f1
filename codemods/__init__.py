"""libcst codemods that move services from an in-house runtime to shims, then to asyncio.

``CODEMODS`` maps the CLI names to the command classes. ``generators-to-async``
is imported on first use, so this package stays importable on its own.
"""

from __future__ import annotations

import importlib
from collections.abc import Iterator, Mapping
from typing import Any

from ._spec import Rule as Rule
from ._spec import Spec as Spec
from ._spec import SpecError as SpecError
from ._spec import Target as Target
from ._spec import load_spec as load_spec
from .legacy_to_shim import LegacyToShimCommand as LegacyToShimCommand
from .shim_to_asyncio import ShimToAsyncioCommand as ShimToAsyncioCommand

__all__ = [
    "CODEMODS",
    "LegacyToShimCommand",
    "Rule",
    "ShimToAsyncioCommand",
    "Spec",
    "SpecError",
    "Target",
    "load_spec",
]

_WHERE = {
    "legacy-to-shim": ("codemods.legacy_to_shim", "LegacyToShimCommand"),
    "generators-to-async": ("codemods.generators_to_async", "GeneratorsToAsyncCommand"),
    "shim-to-asyncio": ("codemods.shim_to_asyncio", "ShimToAsyncioCommand"),
}


class _Registry(Mapping[str, type]):
    """CLI name -> command class, importing each module only when it is looked up."""

    def __getitem__(self, name: str) -> type:
        module, cls = _WHERE[name]
        found: type = getattr(importlib.import_module(module), cls)
        return found

    def __iter__(self) -> Iterator[str]:
        return iter(_WHERE)

    def __len__(self) -> int:
        return len(_WHERE)

    def __repr__(self) -> str:
        return f"CODEMODS({', '.join(_WHERE)})"


CODEMODS: Mapping[str, type] = _Registry()


def __getattr__(name: str) -> Any:
    if name == "GeneratorsToAsyncCommand":
        return CODEMODS["generators-to-async"]
    raise AttributeError(f"module 'codemods' has no attribute {name!r}")
