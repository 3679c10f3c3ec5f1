"""``migrate flags`` and ``migrate flags set``: show and change the per-service backend flag.

Theory of operation: ``flags`` resolves every configured service exactly as
``shims.run`` will at start (``resolve_backend`` with this process's
environment and instance id), so what it prints is what a process started
here would do, and why. ``flags set`` edits the config file with tomlkit so
comments, ordering and formatting survive; the edited text is validated with
the same rules ``shims.run`` applies *before* anything is written, then
replaced atomically (temporary file + rename, refusing if the file changed
meanwhile). Without ``--rollout`` a ``flags set`` means every instance, so an
existing ``rollout`` key is removed.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any

import tomlkit
from tomlkit.exceptions import TOMLKitError
from tomlkit.items import Table

from shims import FlagError, _registry
from shims.config import (
    MigrateConfig,
    find_config,
    instance_id,
    load_config,
    parse_config,
    resolve_backend,
    service_env_var,
)

from .._runner.source import SourceError, read_source, replace_atomically

__all__ = ["add_parser"]


def add_parser(subparsers: Any) -> None:
    """Register ``migrate flags`` and its ``set`` action."""
    parser = subparsers.add_parser(
        "flags",
        help="show each service's backend and where it comes from; 'flags set' changes one",
        description=(
            "Without an action: list every service in the config file with the backend a "
            "process started here would use and where that decision comes from (argument, "
            "environment, file, rollout, default). The config file is MIGRATE_CONFIG, else the "
            "nearest migrate.toml or pyproject.toml with [tool.migrate] upward from here."
        ),
    )
    parser.add_argument("--config", type=Path, help="config file to use instead of the search")
    parser.add_argument("--json", action="store_true", help="machine-readable output")
    parser.set_defaults(func=_show)
    actions = parser.add_subparsers(title="actions", metavar="ACTION")
    setter = actions.add_parser(
        "set",
        help="set a service's backend (and rollout) in the config file",
        description=(
            "Set SERVICE's backend in the config file, keeping its comments and layout, and "
            "print the change. Creates the service's table (and the file, with --config) if "
            "missing. Without --rollout the backend applies to every instance (an existing "
            "rollout is removed)."
        ),
    )
    setter.add_argument("service", metavar="SERVICE")
    setter.add_argument(
        "backend", metavar="BACKEND", help="a registered backend name (shims.backends.names())"
    )
    setter.add_argument(
        "--rollout", type=int, metavar="N",
        help="share of instances (0-100) that take BACKEND; the rest use default_backend",
    )  # fmt: skip
    setter.add_argument("--config", type=Path, help="config file to edit (created if missing)")
    setter.set_defaults(func=_set)


def _config_path(given: Path | None) -> Path | None:
    return given if given is not None else find_config()


def _show(args: argparse.Namespace) -> int:
    path = _config_path(args.config)
    env = dict(os.environ)
    if args.config is not None:
        env["MIGRATE_CONFIG"] = str(args.config.absolute())
    config = load_config(path) if path is not None else None
    instance = instance_id(env)
    rows = []
    names = list(config.services) if config is not None else []
    failed = False
    for name in names:
        try:
            decision = resolve_backend(name, environ=env)
            backend, source = decision.backend, decision.source
        except FlagError as exc:  # e.g. uvloop not importable here: show it, keep listing
            backend, source, failed = "ERROR", str(exc), True
        entry = config.services[name] if config is not None else None
        configured = entry.backend if entry is not None else "-"
        if entry is not None and entry.rollout is not None:
            configured += f" (rollout {entry.rollout}%)"
        if not args.json and path is not None:
            source = source.replace(str(path), _shown(path))
        rows.append(
            {"service": name, "backend": backend, "configured": configured, "source": source}
        )
    stray = _stray_overrides(env, names)
    if args.json:
        print(json.dumps({
            "config": str(path) if path else None,
            "default_backend": config.default_backend if config else "legacy",
            "instance": instance, "services": rows, "unmatched_environment": stray,
        }, indent=2))  # fmt: skip
        return 2 if failed else 0
    if config is None:
        print("no config file found (MIGRATE_CONFIG unset, no migrate.toml or pyproject.toml "
              "with [tool.migrate] upward); every service uses 'legacy'")  # fmt: skip
        print("create one with: migrate flags set SERVICE BACKEND --config migrate.toml")
        return 0
    default_from = "set in file" if config.default_backend_set else "built-in"
    print(f"config:   {path} (default_backend {config.default_backend}, {default_from})")
    print(f"instance: {instance!r} (MIGRATE_INSTANCE, else the host name; decides rollouts)")
    if not rows:
        print("no services configured yet; add one with: migrate flags set SERVICE BACKEND")
    else:
        _print_table(rows)
    for var in stray:
        print(f"warning: {var} is set but no configured service maps to it (typo?)")
    return 2 if failed else 0


def _shown(path: Path) -> str:
    """Return ``path`` relative to the working directory when it is below it."""
    try:
        return str(path.absolute().relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def _stray_overrides(env: dict[str, str], names: list[str]) -> list[str]:
    expected = {service_env_var(name) for name in names}
    return sorted(
        var for var in env
        if var.startswith("MIGRATE_BACKEND_") and var not in expected and env[var].strip()
    )  # fmt: skip


def _print_table(rows: list[dict[str, str]]) -> None:
    headers = {"service": "SERVICE", "backend": "BACKEND", "configured": "CONFIGURED",
               "source": "DECIDED BY"}  # fmt: skip
    widths = {k: max(len(h), *(len(r[k]) for r in rows)) for k, h in headers.items()}
    for row in [headers, *rows]:
        print("  ".join(row[k].ljust(widths[k]) for k in headers).rstrip())


def _set(args: argparse.Namespace) -> int:
    if args.backend not in _registry.known():
        raise _registry.unknown_error(args.backend)
    if args.rollout is not None and not 0 <= args.rollout <= 100:
        raise FlagError(f"--rollout must be from 0 to 100, got {args.rollout!r}")
    path = _config_path(args.config)
    if path is None:
        raise FlagError(
            "no config file found to edit; pass --config migrate.toml (or pyproject.toml) "
            "to create one"
        )
    change = set_flag(path, args.service, args.backend, rollout=args.rollout)
    print(change)
    override = (
        os.environ.get(service_env_var(args.service), "").strip()
        or os.environ.get("MIGRATE_BACKEND", "").strip()
    )
    if override:
        print(f"note: an environment override ({override!r}) still wins over the file here")
    return 0


def set_flag(path: Path, service: str, backend: str, *, rollout: int | None) -> str:
    """Set ``service``'s backend (and rollout) in ``path``; return a one-line description.

    Raises:
        FlagError: the file is malformed, would be invalid after the edit, or
            changed while it was being edited.
    """
    exists = path.exists()
    original, stamp = read_source(path) if exists else (b"", None)
    try:
        doc = tomlkit.parse(original.decode("utf-8"))
    except (TOMLKitError, UnicodeDecodeError) as exc:
        raise FlagError(f"{path}: cannot edit, malformed TOML: {exc}") from exc
    services = _services_table(doc, pyproject=path.name == "pyproject.toml")
    old_backend = old_rollout = None
    if service in services:
        table = services[service]
        if not isinstance(table, Table):
            raise FlagError(f"{path}: cannot edit, service {service!r} is not a table: {table!r}")
        old_backend, old_rollout = table.get("backend"), table.get("rollout")
        table["backend"] = backend
        if rollout is None:
            table.pop("rollout", None)
        else:
            table["rollout"] = rollout
    else:
        table = tomlkit.table()
        table["backend"] = backend
        if rollout is not None:
            table["rollout"] = rollout
        table.add(tomlkit.nl())
        services[service] = table
    text = tomlkit.dumps(doc)
    if not original.endswith(b"\n\n"):  # a new table's blank separator must not trail
        text = text.rstrip("\n") + "\n"
    config: MigrateConfig = parse_config(text, path)  # validate before writing
    header = config.table_name(service)
    before = _describe(old_backend, old_rollout)
    after = _describe(backend, rollout)
    if text.encode() == original:
        return f"{service}: already {after} in {path} {header}; nothing changed"
    try:
        if stamp is None:
            _create(path, text.encode())
        else:
            replace_atomically(path, text.encode(), original=original, stamp=stamp)
    except SourceError as exc:
        raise FlagError(f"{path}: {exc}") from exc
    return f"{service}: {before} -> {after} in {path} {header}"


def _describe(backend: object, rollout: object) -> str:
    if backend is None:
        return "(not set)"
    return f"{backend}" + (f" (rollout {rollout}%)" if rollout is not None else "")


def _services_table(doc: tomlkit.TOMLDocument, *, pyproject: bool) -> Table:
    container: Any = doc
    for key in ("tool", "migrate", "services") if pyproject else ("services",):
        if key not in container:
            container[key] = tomlkit.table(is_super_table=True)
        container = container[key]
        if not isinstance(container, Table):
            raise FlagError(f"cannot edit: {key!r} is not a table: {container!r}")
    return container  # type: ignore[no-any-return]


def _create(path: Path, data: bytes) -> None:
    try:
        with open(path, "xb") as handle:
            handle.write(data)
    except OSError as exc:
        raise FlagError(f"cannot create {path}: {exc.strerror or exc}") from exc
    print(f"created {path}", file=sys.stderr)
