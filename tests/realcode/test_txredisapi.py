"""Real code: txredisapi (an @inlineCallbacks Redis client) converted with zero hand edits.

The pinned sdist comes from ``projects.PROJECTS`` (fetched and cached by the
harness of ``python -m tests.realcode``, which runs it file by file). Here
its own trial suite runs against the real Redis before and after
``migrate codemod generators-to-async --preset twisted --keep-api`` over
the whole tree (the library module and its tests), and the per-test
outcomes must be the same. A test whose outcome differs is run
again once in both trees before it counts (the suite binds fixed ports that
other processes on a shared machine may hold for a moment).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import shims

from .harness import cache_dir, fetch, unpack
from .projects import PROJECTS

pytestmark = [pytest.mark.services, pytest.mark.slow, pytest.mark.timeout(900)]

PROJECT, VERSION = "txredisapi", "1.6.0"
_TEST = re.compile(r"^(tests\.\S+) \.\.\. ", re.MULTILINE)
_VERDICT = re.compile(r"\[([A-Z]+)\]")


def _fetch(dest: Path) -> Path:
    """Unpack the pinned sdist (the harness's cached download) into ``dest``."""
    project = next(p for p in PROJECTS if p.name == PROJECT)
    try:
        sdist = fetch(project, cache_dir())
    except subprocess.CalledProcessError as exc:
        reason = f"cannot download {PROJECT}=={VERSION} from PyPI: {exc.stderr!r}"
        if os.environ.get("MIGRATE_REQUIRE_SERVICES") == "1":
            pytest.fail(reason)
        pytest.skip(reason)
    return unpack(sdist, dest)


def _trial(root: Path, *tests: str, path: tuple[Path, ...] = ()) -> dict[str, str]:
    """Run the project's own trial suite in ``root``; return test id -> outcome."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(map(str, (root, *path)))}
    proc = subprocess.run(
        [sys.executable, "-m", "twisted.trial", "--reporter=bwverbose", *(tests or ("tests",))],
        cwd=root, env=env, capture_output=True, text=True, timeout=600, check=False,
    )  # fmt: skip
    outcomes: dict[str, str] = {}
    for match in _TEST.finditer(proc.stdout):  # a log line may come between id and verdict
        verdict = _VERDICT.search(proc.stdout, match.end())
        outcomes[match.group(1)] = verdict.group(1) if verdict else "NONE"
    assert outcomes, proc.stdout[-2000:] + proc.stderr[-2000:]
    return outcomes


def test_txredisapi_suite_passes_the_same_after_conversion(tmp_path: Path, redis: object) -> None:
    original = _fetch(tmp_path / "original")
    converted = tmp_path / "converted"
    shutil.copytree(original, converted)
    proc = subprocess.run(
        [sys.executable, "-m", "migrate", "codemod", "generators-to-async", "--preset", "twisted",
         "--keep-api", "."],
        cwd=converted, capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    changed = int(re.search(r"(\d+) changed", proc.stderr).group(1))  # type: ignore[union-attr]
    assert changed >= 25, proc.stderr  # the library and its test modules
    assert " 0 refused" in proc.stderr, proc.stderr
    # The library itself converted (a refused file stays as it was, and the
    # suite would then test the original): its five @inlineCallbacks methods.
    library = (converted / "txredisapi.py").read_text()
    assert library != (original / "txredisapi.py").read_text()
    assert "inlineCallbacks" not in library and library.count("async def") == 5
    converted_defs = sum(p.read_text().count("async def") for p in converted.rglob("*.py"))
    assert converted_defs >= 195, "every @inlineCallbacks function converts"
    check = subprocess.run(
        [sys.executable, "-m", "migrate", "codemod", "generators-to-async", "--preset", "twisted",
         "--check", "."],
        cwd=converted, capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert check.returncode == 0 and " 0 would change" in check.stderr, check.stderr

    _same_outcomes(original, converted)

    # Then the bundled spec over the converted tree: the reactor's timers move to the
    # shim, which serves trial's own reactor (no shims.run: the suite runs as it is).
    shimmed = tmp_path / "shimmed"
    shutil.copytree(converted, shimmed)
    spec = subprocess.run(
        [sys.executable, "-m", "migrate", "codemod", "legacy-to-shim", "--spec", "twisted", "."],
        cwd=shimmed, capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert spec.returncode == 0, spec.stderr
    library = (shimmed / "txredisapi.py").read_text()
    assert "import shims" in library and library.count("shims.call_later(") == 2, spec.stderr
    toolkit = tmp_path / "toolkit"  # only the shim on the path: the project has its own tests/
    toolkit.mkdir()
    (toolkit / "shims").symlink_to(Path(shims.__file__).parent)
    _same_outcomes(original, shimmed, path=(toolkit,))


def _same_outcomes(original: Path, converted: Path, path: tuple[Path, ...] = ()) -> None:
    """Both trees' suites give every test the same outcome (a differing test runs twice)."""
    before, after = _trial(original), _trial(converted, path=path)
    tests = sorted(set(before) | set(after))
    differ = [t for t in tests if before.get(t) != after.get(t)]
    if differ:  # once more, both trees, only those tests
        before.update(_trial(original, *differ))
        after.update(_trial(converted, *differ, path=path))
    assert {t: (before.get(t), after.get(t)) for t in tests if before.get(t) != after.get(t)} == {}
    assert sum(o == "OK" for o in after.values()) >= 150, after
