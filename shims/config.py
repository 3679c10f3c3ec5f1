"""The per-service backend flag (``shims.config``): which backend a process runs on, and why.

Theory of operation: ``resolve_backend`` walks the per-service flag's sources
(docs/cli.md, "flags") in order and stops at the first match:

1. the explicit ``backend=`` argument;
2. ``MIGRATE_BACKEND_<SERVICE>`` in the environment;
3. ``MIGRATE_BACKEND`` in the environment;
4. the service's table in the config file (``[tool.migrate.services.<name>]``
   in ``pyproject.toml``, ``[services.<name>]`` in ``migrate.toml``), with an
   optional ``rollout`` percentage that is sticky per instance id;
5. ``default_backend`` in the same file, else ``legacy``.

The config file is read lazily: only when steps 1-3 did not decide, so an
explicit argument or environment override works even next to a broken file.
Whatever is read is validated completely; a bad value raises ``FlagError``
with one message naming the file, the key and the offending value, and never
silently falls back. An empty environment variable counts as unset.

Rollout stickiness: an instance is "in" when ``sha256(service, instance) mod
100 < percent``. The bucket depends only on the pair, so raising the share
only adds instances and never reshuffles the ones already moved.
"""

from __future__ import annotations

import difflib
import hashlib
import os
import re
import socket
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from . import _registry
from ._errors import FlagError

__all__ = [
    "BackendDecision",
    "MigrateConfig",
    "ServiceConfig",
    "find_config",
    "in_rollout",
    "instance_id",
    "load_config",
    "parse_config",
    "resolve_backend",
    "service_env_var",
]

DEFAULT_BACKEND = "legacy"
CONFIG_NAMES = ("migrate.toml", "pyproject.toml")

_TOP_KEYS = ("default_backend", "services", "compare")  # compare: migrate compare's settings
_SERVICE_KEYS = ("backend", "rollout", "paths")
_BARE_KEY = re.compile(r"[A-Za-z0-9_-]+")
_MIGRATE_TABLE_HINT = re.compile(
    rb"^[ \t]*(\[[ \t]*)?(tool[ \t]*\.[ \t]*)?[\"']?migrate[\"']?[ \t]*[.=\]]", re.MULTILINE
)


@dataclass(frozen=True)
class BackendDecision:
    """The backend chosen for a process and a human-readable account of why."""

    backend: str
    source: str
    service: str | None


@dataclass(frozen=True)
class ServiceConfig:
    """One service's table: its backend, optional rollout share and code paths."""

    name: str
    backend: str
    rollout: int | None = None
    paths: tuple[str, ...] = ()


@dataclass(frozen=True)
class MigrateConfig:
    """A validated config file.

    ``default_backend`` is ``"legacy"`` when the file does not set it;
    ``default_backend_set`` tells the two cases apart. ``paths`` of a service
    are relative to the file's directory (see ``service_paths``).
    """

    path: Path
    default_backend: str = DEFAULT_BACKEND
    services: dict[str, ServiceConfig] = field(default_factory=dict)
    default_backend_set: bool = False

    @property
    def is_pyproject(self) -> bool:
        """Return True when the tables live under ``[tool.migrate]``."""
        return self.path.name == "pyproject.toml"

    def table_name(self, service: str) -> str:
        """Return the TOML table header of ``service`` in this file, e.g. ``[services.api]``."""
        key = service if _BARE_KEY.fullmatch(service) else _quote(service)
        prefix = "tool.migrate.services" if self.is_pyproject else "services"
        return f"[{prefix}.{key}]"

    def service_paths(self, service: str) -> tuple[Path, ...]:
        """Return the service's ``paths`` resolved against the file's directory."""
        return tuple(self.path.parent / p for p in self.services[service].paths)


def service_env_var(service: str) -> str:
    """Return the environment variable that overrides ``service``'s backend.

    The name is upper-cased and every character that is not an ASCII letter
    or digit becomes ``_``: ``pdf-export`` -> ``MIGRATE_BACKEND_PDF_EXPORT``.
    """
    return "MIGRATE_BACKEND_" + re.sub(r"[^A-Z0-9]", "_", service.upper())


def instance_id(environ: Mapping[str, str] | None = None) -> str:
    """Return this instance's id for rollouts: ``MIGRATE_INSTANCE`` if set, else the host name."""
    env = os.environ if environ is None else environ
    return env.get("MIGRATE_INSTANCE") or socket.gethostname()


def in_rollout(service: str, instance: str, percent: int) -> bool:
    """Return True when ``instance`` is among the ``percent``% of ``service``'s instances.

    Sticky: the answer depends only on the arguments, and an instance that is
    in at some percentage stays in at every higher one.

    Raises:
        FlagError: ``percent`` is not an int in 0-100.
    """
    _check_rollout(percent, f"rollout for service {service!r}")
    digest = hashlib.sha256(f"{service}\0{instance}".encode()).digest()
    return int.from_bytes(digest[:8], "big") % 100 < percent


def find_config(cwd: Path | None = None, environ: Mapping[str, str] | None = None) -> Path | None:
    """Return the config file in effect, or None when there is none.

    ``MIGRATE_CONFIG`` wins when set. Otherwise the nearest directory upward
    from ``cwd`` holding a ``migrate.toml``, or a ``pyproject.toml`` that has
    a ``[tool.migrate]`` table (plain packaging pyproject files are passed
    over); in one directory ``migrate.toml`` wins.

    Raises:
        FlagError: ``MIGRATE_CONFIG`` names a file that does not exist, or a
            candidate pyproject.toml mentioning ``migrate`` is malformed.
    """
    env = os.environ if environ is None else environ
    explicit = env.get("MIGRATE_CONFIG")
    if explicit:
        path = Path(explicit)
        if not path.is_absolute() and cwd is not None:
            path = cwd / path
        if not path.is_file():
            raise FlagError(
                f"MIGRATE_CONFIG={explicit!r} is not a file; point it at a migrate.toml "
                "or pyproject.toml, or unset it"
            )
        return path
    start = (cwd if cwd is not None else Path.cwd()).absolute()
    for directory in (start, *start.parents):
        candidate = directory / "migrate.toml"
        if candidate.is_file():
            return candidate
        candidate = directory / "pyproject.toml"
        if candidate.is_file() and _has_migrate_table(candidate):
            return candidate
    return None


def load_config(path: Path) -> MigrateConfig:
    """Read and validate one config file (``pyproject.toml`` form or ``migrate.toml`` form).

    Raises:
        FlagError: the file cannot be read, is not valid TOML (the message
            has the path and tomllib's line and column), or holds an unknown
            key, a value of the wrong type, an unknown backend or a rollout
            outside 0-100.
    """
    return parse_config(_read_text(path), path)


def parse_config(text: str, path: Path) -> MigrateConfig:
    """Validate config ``text`` as if it were the contents of ``path`` (its name picks the form).

    Raises:
        FlagError: as ``load_config``, for everything but reading the file.
    """
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise FlagError(f"{path}: malformed TOML: {exc}") from exc
    where = str(path)
    if path.name == "pyproject.toml":
        tool = data.get("tool", {})
        section = tool.get("migrate", {}) if isinstance(tool, dict) else {}
        if not isinstance(section, dict):
            raise FlagError(f"{path}: [tool.migrate] must be a table, got {section!r}")
        prefix = "tool.migrate."
    else:
        section = data
        prefix = ""
    _reject_unknown(section, _TOP_KEYS, f"{where}: {'[tool.migrate]' if prefix else 'top level'}")
    default_set = "default_backend" in section
    default = DEFAULT_BACKEND
    if default_set:
        default = _check_backend(section["default_backend"], f"{where}: {prefix}default_backend")
    raw_services = section.get("services", {})
    if not isinstance(raw_services, dict):
        raise FlagError(
            f"{where}: {prefix}services must be a table of service tables, got {raw_services!r}"
        )
    config = MigrateConfig(path=path, default_backend=default, default_backend_set=default_set)
    for name, table in raw_services.items():
        header = config.table_name(name)
        config.services[name] = _parse_service(name, table, f"{where} {header}")
    return config


def resolve_backend(
    service: str | None = None,
    *,
    backend: str | None = None,
    environ: Mapping[str, str] | None = None,
    cwd: Path | None = None,
) -> BackendDecision:
    """Decide the backend for ``service`` (the sources above, first match wins).

    Raises:
        FlagError: an unknown backend name anywhere on the way, a malformed or
            invalid config file, or a backend chosen whose package is missing
            (one line naming the backend and the package).
    """
    env = os.environ if environ is None else environ
    decision = _decide(service, backend, env, cwd)
    _registry.require(decision.backend, decision.source)
    return decision


def _decide(
    service: str | None, backend: str | None, env: Mapping[str, str], cwd: Path | None
) -> BackendDecision:
    if backend is not None:
        return BackendDecision(
            _check_backend(backend, "argument backend"), f"argument backend={backend!r}", service
        )
    if service is not None:
        var = service_env_var(service)
        if env.get(var, "").strip():
            chosen = _check_backend(env[var].strip(), f"environment {var}")
            return BackendDecision(chosen, f"environment {var}", service)
    if env.get("MIGRATE_BACKEND", "").strip():
        chosen = _check_backend(env["MIGRATE_BACKEND"].strip(), "environment MIGRATE_BACKEND")
        return BackendDecision(chosen, "environment MIGRATE_BACKEND", service)
    path = find_config(cwd, env)
    if path is None:
        return BackendDecision(DEFAULT_BACKEND, "built-in default", service)
    config = load_config(path)
    default_source = f"{path} default_backend" if config.default_backend_set else "built-in default"
    entry = config.services.get(service) if service is not None else None
    if entry is None:
        return BackendDecision(config.default_backend, default_source, service)
    table = f"{path} {config.table_name(entry.name)}"
    if entry.rollout is None:
        return BackendDecision(entry.backend, table, service)
    instance = instance_id(env)
    if in_rollout(entry.name, instance, entry.rollout):
        return BackendDecision(
            entry.backend, f"{table} (rollout {entry.rollout}%: instance {instance!r} in)", service
        )
    return BackendDecision(
        config.default_backend,
        f"{table} (rollout {entry.rollout}%: instance {instance!r} out) -> {default_source}",
        service,
    )


def _parse_service(name: str, table: object, where: str) -> ServiceConfig:
    if not isinstance(table, dict):
        raise FlagError(f"{where}: a service must be a table with a backend key, got {table!r}")
    _reject_unknown(table, _SERVICE_KEYS, where)
    if "backend" not in table:
        raise FlagError(
            f"{where}: missing key 'backend'; add e.g. backend = \"legacy\" "
            f"(one of {', '.join(_registry.known())})"
        )
    chosen = _check_backend(table["backend"], f"{where} backend")
    rollout = table.get("rollout")
    if rollout is not None:
        _check_rollout(rollout, f"{where} rollout")
    paths = table.get("paths", [])
    if (
        isinstance(paths, str)
        or not isinstance(paths, list)
        or not all(isinstance(p, str) for p in paths)
    ):
        raise FlagError(
            f'{where} paths: must be a list of strings, e.g. paths = ["services/api"]; got {paths!r}'
        )
    return ServiceConfig(name=name, backend=chosen, rollout=rollout, paths=tuple(paths))


def _check_backend(value: object, where: str) -> str:
    if isinstance(value, str) and value in _registry.known():
        return value
    raise _registry.unknown_error(value, where)


def _check_rollout(value: object, where: str) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= 100:
        raise FlagError(f"{where}: must be an integer percentage from 0 to 100, got {value!r}")


def _reject_unknown(table: dict[str, Any], known: tuple[str, ...], where: str) -> None:
    for key in table:
        if key not in known:
            close = difflib.get_close_matches(key, known, n=1)
            hint = f"did you mean {close[0]!r}? " if close else ""
            raise FlagError(f"{where}: unknown key {key!r}; {hint}known keys: {', '.join(known)}")


def _read_text(path: Path) -> str:
    try:
        return path.read_bytes().decode("utf-8")
    except OSError as exc:
        raise FlagError(f"cannot read config file {path}: {exc.strerror or exc}") from exc
    except UnicodeDecodeError as exc:
        raise FlagError(f"{path}: not UTF-8 text ({exc.reason} at byte {exc.start})") from exc


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        return tomllib.loads(_read_text(path))
    except tomllib.TOMLDecodeError as exc:
        raise FlagError(f"{path}: malformed TOML: {exc}") from exc


def _has_migrate_table(path: Path) -> bool:
    # Parse only a file that looks like it has [tool.migrate] (or a dotted or
    # inline spelling of it): a packaging pyproject.toml that merely depends on
    # migrate-toolkit must not be read, let alone fail the start of a service.
    try:
        if not _MIGRATE_TABLE_HINT.search(path.read_bytes()):
            return False
    except OSError:
        return False
    tool = _read_toml(path).get("tool")
    return isinstance(tool, dict) and "migrate" in tool


def _quote(key: str) -> str:
    escaped = key.replace("\\", "\\\\").replace('"', '\\"')
    return f'"{escaped}"'
