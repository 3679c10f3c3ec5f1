"""libcst codemods that move services from an in-house runtime to shims, then to asyncio.

``CODEMODS`` maps the CLI names (``legacy-to-shim``, ``generators-to-async``,
``shim-to-asyncio``) to the command classes. ``GeneratorsToAsyncCommand`` is
imported on first use, so ``import codemods`` does not load the generator
engine.
"""

from __future__ import annotations

from typing import Any as _Any

from ._generators.presets import PRESETS as PRESETS
from ._generators.presets import Preset as Preset
from ._registry import Registry as _Registry
from ._rename.spec import Rule as Rule
from ._rename.spec import Spec as Spec
from ._rename.spec import SpecError as SpecError
from ._rename.spec import Target as Target
from ._rename.spec import load_spec as load_spec
from .legacy_to_shim import LegacyToShimCommand as LegacyToShimCommand
from .shim_to_asyncio import ShimToAsyncioCommand as ShimToAsyncioCommand

__all__ = [
    "CODEMODS",
    "PRESETS",
    "GeneratorsToAsyncCommand",
    "LegacyToShimCommand",
    "Preset",
    "Rule",
    "ShimToAsyncioCommand",
    "Spec",
    "SpecError",
    "Target",
    "load_spec",
]

#: CLI name -> command class (a read-only Mapping; lookups import lazily).
CODEMODS: _Registry = _Registry()


def __getattr__(name: str) -> _Any:
    if name == "GeneratorsToAsyncCommand":
        return CODEMODS["generators-to-async"]
    raise AttributeError(f"module 'codemods' has no attribute {name!r}")
