"""Let libcst's own CLI find our commands by their full dotted path.

``python -m libcst.tool codemod NAME PATH`` imports ``f"{module}.{NAME}"`` for
each ``module`` listed under ``modules:`` in ``.libcst.codemod.yaml``; it never
imports ``NAME`` on its own (that takes ``-x``). So the full path
``codemods.legacy_to_shim.LegacyToShimCommand`` resolves only under a listed
module with ``codemods`` inside it. Importing this module provides one: it
registers the ``codemods`` package and its command modules under
``codemods._tool.codemods``, as the very same module objects (no second copy
of any class). List ``codemods._tool`` in the config's ``modules``, as this
repository's ``.libcst.codemod.yaml`` does.
"""

from __future__ import annotations

import sys

import codemods

from . import generators_to_async, legacy_to_shim, shim_to_asyncio

for _module in (codemods, generators_to_async, legacy_to_shim, shim_to_asyncio):
    sys.modules[f"{__name__}.{_module.__name__}"] = _module
