"""Per-service migration readiness, behind ``migrate scan`` and ``migrate.scan_path``.

Theory of operation: the config file in effect for PATH (``find_config``)
lists the services and their ``paths``. Every Python file under those paths
(the codemod runner's walker: ``.gitignore`` respected, no symlinks) is read
and analysed once by the lint engine; a file counts for the service with the
most specific ``paths`` entry containing it, so nested services are never
counted twice. When PATH is inside the project, only files under PATH count.
The flag column is ``resolve_backend`` for that service, exactly what
``shims.run`` would pick in this environment, with its source.
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from shims import FlagError
from shims.config import find_config, load_config, resolve_backend

from .._runner.discover import discover
from .._services import ServiceIndex, is_flipped
from .files import analyze_files
from .rules import FileAnalysis

__all__ = ["ServiceReport", "scan_path"]


@dataclass(frozen=True)
class ServiceReport:
    """One service's readiness, as ``migrate scan`` shows it.

    ``backend``/``source`` are the flag as resolved now (``source`` says
    where it came from); ``configured_backend``/``rollout`` are the service's
    table in the config file. ``findings`` maps lint codes to counts.
    ``ready`` is True when no legacy call site, no generator coroutine and
    no hand work (``hand_work``: Twisted ``Protocol``/``Factory`` classes,
    which only run on Twisted's reactor) is left, i.e. flipping the flag
    cannot break on legacy API.
    """

    name: str
    paths: tuple[str, ...]
    files: int
    legacy_sites: int
    generator_coroutines: int
    findings: Mapping[str, int] = field(hash=False)
    backend: str
    source: str
    configured_backend: str
    rollout: int | None
    ready: bool
    verdict: str
    errors: tuple[str, ...] = field(default=())
    # Twisted Protocol/Factory classes: networking no codemod rewrites
    hand_work: int = 0


def _verdict(
    *,
    files: int,
    legacy: int,
    generators: int,
    hand_work: int = 0,
    flipped: bool,
    configured: str,
    rollout: int | None,
    error: str,
) -> str:
    if error:
        return "flag error"
    if files == 0:
        return "no Python files under its paths"
    left = []
    if legacy:
        left.append(f"{legacy} legacy call site{'s' * (legacy != 1)}")
    if generators:
        left.append(f"{generators} generator coroutine{'s' * (generators != 1)}")
    if hand_work:
        left.append(f"{hand_work} Twisted protocol class{'es' * (hand_work != 1)} (hand work)")
    if flipped:
        if left:
            return "flipped but still uses legacy API: " + ", ".join(left)
        if is_flipped(configured) and rollout is not None and rollout < 100:
            return f"rolling out ({rollout}%)"
        return "flipped"
    if left:
        return "not ready: " + ", ".join(left) + " left"
    return "ready to flip"


def scan_path(
    path: Path | str = ".", *, environ: Mapping[str, str] | None = None, jobs: int = 1
) -> list[ServiceReport]:
    """Return a readiness report for every service of the config file in effect for ``path``.

    Services come in config file order. ``environ`` defaults to
    ``os.environ`` (it holds the flag overrides and ``MIGRATE_CONFIG``);
    ``jobs`` > 1 parses files in that many worker processes. A service whose
    flag cannot be resolved gets the "flag error" verdict and the message in
    ``errors`` rather than an exception, so one bad override does not hide
    every other service.

    Raises:
        FlagError: no config file was found for ``path``, or it is malformed
            or invalid.
    """
    where = Path(path)
    if not where.exists():
        raise FlagError(f"no such file or directory: {str(where)!r}")
    start = Path(os.path.abspath(where if where.is_dir() else where.parent))
    config_path = find_config(start, environ)
    if config_path is None:
        raise FlagError(
            f"no migrate config found from {str(where)!r} upward; add "
            "[tool.migrate.services.<name>] tables to pyproject.toml or create migrate.toml"
        )
    index = ServiceIndex(load_config(config_path), environ)
    flags = {name: _flag(index, name) for name in index.config.services}
    roots = [r for name in flags for r in index.config.service_paths(name) if r.exists()]
    files = [f for f in discover(roots).files if _under(f, start)] if roots else []
    owned = [(file, owner) for file in files if (owner := index.service_of(file)) is not None]
    results = analyze_files([(file, flags[owner][2]) for file, owner in owned], jobs=jobs)
    per_service: dict[str, list[FileAnalysis]] = {name: [] for name in flags}
    for (_, owner), result in zip(owned, results, strict=True):
        if result is not None:  # None: an @generated file
            per_service[owner].append(result)
    return [_report(index, name, flags[name], per_service[name]) for name in flags]


def _under(path: Path, root: Path) -> bool:
    full = Path(os.path.abspath(path))
    return full == root or full.is_relative_to(root)


def _flag(index: ServiceIndex, name: str) -> tuple[str, str, bool, str]:
    """Return (backend, source, flipped, error) for one service."""
    try:
        decision = resolve_backend(name, environ=index.environ)
        return decision.backend, decision.source, index.flipped(name), ""
    except FlagError as exc:
        return "?", str(exc), False, str(exc)


def _report(
    index: ServiceIndex,
    name: str,
    flag: tuple[str, str, bool, str],
    results: Sequence[FileAnalysis],
) -> ServiceReport:
    entry = index.config.services[name]
    backend, source, flipped, error = flag
    counts = Counter(f.code for r in results for f in r.findings)
    legacy = sum(r.legacy_sites for r in results)
    generators = sum(r.generator_coroutines for r in results)
    hand_work = sum(r.hand_work for r in results)
    return ServiceReport(
        name=name,
        paths=entry.paths,
        files=len(results),
        legacy_sites=legacy,
        generator_coroutines=generators,
        findings=dict(sorted(counts.items())),
        backend=backend,
        source=source,
        configured_backend=entry.backend,
        rollout=entry.rollout,
        ready=not error and len(results) > 0 and legacy == generators == hand_work == 0,
        hand_work=hand_work,
        verdict=_verdict(
            files=len(results),
            legacy=legacy,
            generators=generators,
            hand_work=hand_work,
            flipped=flipped,
            configured=entry.backend,
            rollout=entry.rollout,
            error=error,
        ),
        errors=(error,) if error else (),
    )
