"""``[tool.migrate.compare]`` (or ``[compare]`` in migrate.toml): the gate's thresholds."""

from __future__ import annotations

import fnmatch
import tomllib
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

DEFAULT_CRITICAL = (
    "shims_eof_to_caller_total",
    "shims_pool_dead_at_checkout_total",
    "shims_write_timeouts_total",
    "shims_unhandled_errors_total",
    "shims_pool_wait_timeouts_total",
)

EXTRA_HINT = "pip install 'migrate-toolkit[metrics]'"


class CompareError(Exception):
    """Bad input: the message is the one line the user sees (exit 2)."""


@dataclass(frozen=True)
class Settings:
    """``[tool.migrate.compare]`` (or ``[compare]`` in migrate.toml), with DESIGN's defaults."""

    alpha: float = 0.05
    max_increase: float = 0.10
    min_instances: int = 3
    duration: float = 60.0
    critical: tuple[str, ...] = DEFAULT_CRITICAL
    metrics: tuple[str, ...] = ("shims_*",)

    def is_critical(self, name: str) -> bool:
        return any(fnmatch.fnmatchcase(name, pattern) for pattern in self.critical)

    def wanted(self, name: str) -> bool:
        return any(fnmatch.fnmatchcase(name, pattern) for pattern in self.metrics)


def replace(settings: Settings, **changes: Any) -> Settings:
    values = {f.name: getattr(settings, f.name) for f in fields(settings)}
    values.update(changes)
    return Settings(**values)


def load_settings(path: Path | None) -> Settings:
    """Read ``[tool.migrate.compare]``; defaults when there is no file or no table."""
    from shims import FlagError
    from shims.config import find_config

    try:
        path = path if path is not None else find_config()
    except FlagError as exc:
        raise CompareError(str(exc)) from None
    if path is None:
        return Settings()
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise CompareError(f"cannot read config file {str(path)!r}: {exc}") from None
    where = "[compare]"
    if path.name == "pyproject.toml":
        data, where = data.get("tool", {}).get("migrate", {}), "[tool.migrate.compare]"
    table = data.get("compare", {})
    if not isinstance(table, dict):
        raise CompareError(f"{path}: {where} must be a table, got {table!r}")
    known = {f.name: f for f in fields(Settings)}
    values: dict[str, Any] = {}
    for key, value in table.items():
        if key not in known:
            raise CompareError(
                f"{path}: {where}: unknown key {key!r}; known keys: {', '.join(known)}"
            )
        values[key] = _check_setting(key, value, f"{path}: {where} {key}")
    return Settings(**values)


def _check_setting(key: str, value: object, where: str) -> object:
    if key in ("critical", "metrics"):
        if not (isinstance(value, list) and all(isinstance(v, str) for v in value)):
            raise CompareError(f"{where} must be a list of metric names or globs, got {value!r}")
        return tuple(value)
    if key == "min_instances":
        if not isinstance(value, int) or isinstance(value, bool) or value < 2:
            raise CompareError(f"{where} must be an integer of at least 2, got {value!r}")
        return value
    ok = isinstance(value, int | float) and not isinstance(value, bool)
    if key == "alpha" and not (ok and 0 < value < 1):  # type: ignore[operator]
        raise CompareError(f"{where} must be between 0 and 1 (e.g. 0.05), got {value!r}")
    if key in ("max_increase", "duration") and not (ok and value > 0):  # type: ignore[operator]
        raise CompareError(f"{where} must be a positive number, got {value!r}")
    return float(value)  # type: ignore[arg-type]
