"""The one registry of backend names: bundled backends, entry points, ``register`` calls.

Theory of operation: the registry fills itself on first use, in order: the
bundled backends (``_bundled``: each module registers one), then every entry
point of the group ``shims.backends`` (each names a ``Backend`` object). An
entry point that fails to import, names something that is not a ``Backend``,
or reuses a name already taken is not fatal for the process as a whole: the
name is kept with its problem, left out of ``names()``, and selecting it
raises ``FlagError`` with one line naming the backend and the package.
``register`` called from code with a name that is taken raises at once.

Availability is checked without importing anything (``Backend.unavailable``
uses ``find_spec``), so listing names never imports Twisted or uvloop;
``require`` imports the modules for real once a backend is selected.
"""

from __future__ import annotations

import difflib
import importlib
import logging
import re

from ._contract import Backend
from ._errors import FlagError

__all__ = [
    "GROUP",
    "bundled",
    "get",
    "known",
    "names",
    "parity_defaults",
    "problem",
    "register",
    "require",
    "unknown_error",
    "unregister",
]

GROUP = "shims.backends"
logger = logging.getLogger("shims")

_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*")
_BACKENDS: dict[str, Backend] = {}
_ORIGINS: dict[str, str] = {}
_PROBLEMS: dict[str, str] = {}
_discovered = False
_bundled_loaded = False


def register(name: str, backend: Backend, *, replace: bool = False) -> None:
    """Make ``backend`` selectable as ``name`` (flags, ``shims.run``, ``--backends``).

    One object may be registered under several names; it runs as the name it
    was selected by. Raises ``FlagError`` (a ``ValueError``) for a malformed
    name, an object that is not a ``shims.backends.Backend``, or a name that
    is already registered (unless ``replace=True``).
    """
    origin = type(backend).__module__
    bundled()  # entry points are checked against code registrations when they load
    _add(name, backend, origin, replace=replace, strict=True)


def unregister(name: str) -> None:
    """Forget ``name`` (tests that register a scratch backend clean up with it)."""
    _BACKENDS.pop(name, None)
    _ORIGINS.pop(name, None)
    _PROBLEMS.pop(name, None)


def _add(name: str, backend: object, origin: str, *, replace: bool, strict: bool) -> None:
    if not isinstance(name, str) or not _NAME.fullmatch(name):
        raise FlagError(
            f"backend name {name!r} ({origin}) must be letters, digits, '_', '-' or '.', "
            "without commas or spaces"
        )
    problem: str | None = None
    if not isinstance(backend, Backend):
        problem = (
            f"backend {name!r} ({origin}) is {backend!r}, not a shims.backends.Backend "
            "instance; point the registration at an instance of your Backend subclass"
        )
    elif name in _BACKENDS and not replace and _BACKENDS[name] is not backend:
        problem = (
            f"backend {name!r} is registered twice: by {_ORIGINS[name]} and by {origin}; "
            "uninstall one of the packages or register under another name"
        )
    if problem is None:
        _BACKENDS[name] = backend  # type: ignore[assignment]  # checked above
        _ORIGINS[name] = origin
        _PROBLEMS.pop(name, None)
    elif strict:
        raise FlagError(problem)
    else:
        _PROBLEMS[name] = problem
        logger.warning("%s", problem)


def bundled() -> list[Backend]:
    """Load the bundled backends (not the entry points) and return them."""
    global _bundled_loaded
    if not _bundled_loaded:
        _bundled_loaded = True
        # Loaded by name, as entry points are: the bundled backends import this module.
        importlib.import_module("shims.backends._bundled").load()
    return list(_BACKENDS.values())


def _discover() -> None:
    global _discovered
    if _discovered:
        return
    _discovered = True
    bundled()
    from importlib import metadata  # slow to import: only when a name is looked up

    for ep in metadata.entry_points(group=GROUP):
        dist = ep.dist.name if ep.dist is not None else "an unknown package"
        origin = f"entry point {ep.value!r} of package {dist!r}"
        try:
            obj = ep.load()
        except Exception as exc:
            _PROBLEMS[ep.name] = (
                f"backend {ep.name!r} ({origin}) failed to import: {type(exc).__name__}: {exc}; "
                f"reinstall or fix package {dist!r}"
            )
            logger.warning("%s", _PROBLEMS[ep.name])
            continue
        if ep.name in _PROBLEMS or (ep.name in _BACKENDS and _BACKENDS[ep.name] is not obj):
            first = _ORIGINS.get(ep.name, "another entry point")
            _BACKENDS.pop(ep.name, None)
            _PROBLEMS[ep.name] = (
                f"backend {ep.name!r} is registered twice: by {first} and by {origin}; "
                "uninstall one of the packages"
            )
            logger.warning("%s", _PROBLEMS[ep.name])
            continue
        _add(ep.name, obj, origin, replace=False, strict=False)


def get(name: str) -> Backend:
    """Return the backend object registered as ``name``.

    Raises ``FlagError`` naming the registered backends (with a did-you-mean
    hint) for an unknown name, or the one-line problem of a broken
    registration (an entry point that failed to import, a duplicate).
    """
    _discover()
    backend = _BACKENDS.get(name)
    if backend is not None:
        return backend
    if name in _PROBLEMS:
        raise FlagError(_PROBLEMS[name])
    raise unknown_error(name)


def names(*, available: bool = True) -> list[str]:
    """Return the registered backend names, in registration order (the default first).

    With ``available`` (the default) only those whose packages are
    installed; never imports them.
    """
    _discover()
    return [n for n, b in _BACKENDS.items() if not available or b.unavailable() is None]


def parity_defaults() -> list[str]:
    """Return the backends parity tests run on when none are named: installed, not opt-in."""
    return [n for n in names() if _BACKENDS[n].parity_default]


def known() -> list[str]:
    """Return every registered name plus the names of broken registrations."""
    _discover()
    return [*_BACKENDS, *(n for n in _PROBLEMS if n not in _BACKENDS)]


def problem(name: str) -> str | None:
    """Return why ``name`` cannot be selected here (broken, or a package missing), or None."""
    _discover()
    if name in _PROBLEMS:
        return _PROBLEMS[name]
    backend = _BACKENDS.get(name)
    if backend is None:
        return None
    reason = backend.unavailable()
    return reason


def require(name: str, source: str) -> Backend:
    """Return backend ``name`` after importing what it needs, or raise one-line ``FlagError``."""
    backend = get(name)
    hint = f"; install it with: {backend.install_hint}" if backend.install_hint else ""
    module = backend.missing()
    reason = None if module is None else f"{module} is not importable{hint}"
    if reason is None:
        for module in backend.requires:
            try:
                importlib.import_module(module)
            except ImportError as exc:
                reason = f"{module} is not importable ({exc}){hint}"
                break
    if reason is not None:
        raise FlagError(f"backend {name!r} was requested ({source}) but {reason}")
    return backend


def unknown_error(value: object, where: str | None = None) -> FlagError:
    """Return the error for an unknown backend name: the valid names and a did-you-mean."""
    valid = known()
    hint = ""
    if isinstance(value, str):
        close = difflib.get_close_matches(value.lower(), valid, n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
    prefix = f"{where}: " if where else ""
    return FlagError(f"{prefix}unknown backend {value!r}{hint}; valid backends: {', '.join(valid)}")
