"""Which service a file belongs to, and whether that service is already flipped.

Shared by ``migrate check`` (legacy API in a flipped service), ``migrate scan``
and ``migrate codemod legacy-to-shim`` (the per-file ``service=`` name), so the
three map files to services the same way.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

from shims import MigrateConfig, find_config, load_config, resolve_backend

__all__ = ["FLIPPED_BACKENDS", "ServiceIndex"]

FLIPPED_BACKENDS = frozenset({"asyncio", "uvloop"})


class ServiceIndex:
    """Map files to the services of one config file and say which are flipped.

    A file belongs to the service with the most specific ``paths`` entry it
    lies under. A service is flipped when its backend resolves to asyncio or
    uvloop (environment overrides included), or when it is configured with
    one of those and a non-zero rollout: then some instance already runs it.
    """

    def __init__(self, config: MigrateConfig, environ: Mapping[str, str] | None = None) -> None:
        self.config = config
        # Resolve against this very file, whatever MIGRATE_CONFIG says elsewhere.
        self.environ = {**(os.environ if environ is None else environ),
                        "MIGRATE_CONFIG": str(config.path)}  # fmt: skip
        self._roots = sorted(
            (
                (Path(os.path.abspath(root)), name)
                for name in config.services
                for root in config.service_paths(name)
            ),
            key=lambda item: -len(item[0].parts),
        )
        self._flipped: dict[str, bool] = {}

    @classmethod
    def for_path(cls, path: Path, environ: Mapping[str, str] | None = None) -> ServiceIndex | None:
        """Find and load the config file in effect for ``path`` (None when there is none).

        Raises:
            FlagError: the config file is malformed or invalid.
        """
        start = path if path.is_dir() else path.parent
        found = find_config(Path(os.path.abspath(start)), environ)
        return None if found is None else cls(load_config(found), environ)

    def service_of(self, path: Path) -> str | None:
        """Return the name of the service ``path`` belongs to, or None."""
        full = Path(os.path.abspath(path))
        for root, name in self._roots:
            if full == root or full.is_relative_to(root):
                return name
        return None

    def flipped(self, service: str) -> bool:
        """Return True when ``service`` runs (or partly runs) on asyncio/uvloop.

        Raises:
            FlagError: the service's flag cannot be resolved (bad environment value,
                uvloop selected but missing).
        """
        if service not in self._flipped:
            entry = self.config.services[service]
            flipped = entry.backend in FLIPPED_BACKENDS and entry.rollout != 0
            if not flipped:
                decision = resolve_backend(service, environ=self.environ)
                flipped = decision.backend in FLIPPED_BACKENDS
            self._flipped[service] = flipped
        return self._flipped[service]
