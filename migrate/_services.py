"""Which service a file belongs to, and whether that service is already flipped.

Shared by ``migrate check`` (legacy API in a flipped service), ``migrate scan``
and ``migrate codemod legacy-to-shim`` (the per-file ``service=`` name), so the
three map files to services the same way.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

from shims import _registry
from shims.config import MigrateConfig, find_config, load_config, resolve_backend

__all__ = ["ServiceIndex", "is_flipped"]


def is_flipped(backend: str) -> bool:
    """Return True when ``backend`` runs an asyncio loop (a service on it has moved off its
    old scheduler): what its registered object says, never a list of names."""
    if backend not in _registry.names(available=False):
        return False  # a broken registration: resolving the flag reports it
    return _registry.get(backend).asyncio_based


class ServiceIndex:
    """Map files to the services of one config file and say which are flipped.

    A file belongs to the service with the most specific ``paths`` entry it
    lies under. A service is flipped when its backend resolves to an
    asyncio-based backend (asyncio, uvloop...; environment overrides
    included), or when it is configured with one and a non-zero rollout:
    then some instance already runs it.
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
        """Return True when ``service`` runs (or partly runs) on an asyncio-based backend.

        Raises:
            FlagError: the service's flag cannot be resolved (bad environment value,
                uvloop selected but missing).
        """
        if service not in self._flipped:
            entry = self.config.services[service]
            flipped = is_flipped(entry.backend) and entry.rollout != 0
            if not flipped:
                decision = resolve_backend(service, environ=self.environ)
                flipped = is_flipped(decision.backend)
            self._flipped[service] = flipped
        return self._flipped[service]
