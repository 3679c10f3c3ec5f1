"""The CLI-name -> command-class registry, importing each command's module on first use.

Looking a command up imports only that command's engine: ``migrate check``
and the rename commands never load the generator engine. A lookup raises
KeyError for an unknown name, or the ImportError of the command's module.
"""

from __future__ import annotations

import importlib
from collections.abc import Iterator, Mapping

WHERE: dict[str, tuple[str, str]] = {
    "legacy-to-shim": ("codemods.legacy_to_shim", "LegacyToShimCommand"),
    "generators-to-async": ("codemods.generators_to_async", "GeneratorsToAsyncCommand"),
    "shim-to-asyncio": ("codemods.shim_to_asyncio", "ShimToAsyncioCommand"),
}


class Registry(Mapping[str, type]):
    """Read-only mapping of CLI names to command classes (see the module docstring)."""

    def __getitem__(self, name: str) -> type:
        """Return the class for ``name``; raises KeyError, or ImportError from its module."""
        module, cls = WHERE[name]
        found: type = getattr(importlib.import_module(module), cls)
        return found

    def __iter__(self) -> Iterator[str]:
        return iter(WHERE)

    def __len__(self) -> int:
        return len(WHERE)

    def __repr__(self) -> str:
        return f"CODEMODS({', '.join(WHERE)})"
