"""The fleet converts completely and its own tests pass on every backend with equal recordings."""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

import pytest
from fleet_support import FLEET, STEPS, Conversion, copy_fleet, migrate_codemod, run_python

import shims

pytestmark = [pytest.mark.services, pytest.mark.slow]

BACKENDS = shims.backends.names()
LEGACY_REFERENCE = re.compile(r"\blegacy\b\s*\.\s*runtime|\bfrom\s+legacy\b|\bimport\s+legacy\b")


def parity_test_count(root: Path) -> int:
    tests = (root / "tests").glob("test_*.py")
    return sum(path.read_text().count("@pytest.mark.parity") for path in tests)


def run_fleet_tests(root: Path, backends: list[str]) -> subprocess.CompletedProcess[str]:
    """Run the fleet's own suite in a subprocess, with the servers required."""
    env = {**os.environ, "MIGRATE_REQUIRE_SERVICES": "1"}
    env.pop("PYTEST_ADDOPTS", None)
    args = ["-m", "pytest", "-q", "-p", "no:cacheprovider", "--backends", ",".join(backends)]
    return run_python(args, root, env)


def assert_all_passed(proc: subprocess.CompletedProcess[str], expected: int) -> None:
    output = proc.stdout + proc.stderr
    assert proc.returncode == 0, output
    summary = output.strip().splitlines()[-1]
    assert re.search(rf"\b{expected} passed\b", summary), output
    assert "skipped" not in summary and "failed" not in summary, output


def test_conversion_is_complete(converted_fleet: Conversion) -> None:
    leftovers = [
        f"{path.relative_to(converted_fleet.root)}:{n}: {line.strip()}"
        for path in sorted(converted_fleet.root.rglob("*.py"))
        for n, line in enumerate(path.read_text().splitlines(), 1)
        if LEGACY_REFERENCE.search(line) or re.search(r"@\w+\.coroutine\b|\byield\b", line)
    ]
    assert leftovers == [], "legacy.runtime references or generator coroutines left"
    assert converted_fleet.refused == [], "the codemods refused constructs in the fleet"
    for path in converted_fleet.root.rglob("*.py"):
        compile(path.read_text(), str(path), "exec")
    # The original really was legacy code: the conversion touched every service.
    for service in ("docs", "cache", "pdf_export", "realtime"):
        assert any(rel.startswith(f"fleet/{service}/") for rel in converted_fleet.changed), service


def test_entry_points_name_their_service(converted_fleet: Conversion) -> None:
    # The per-service flag reaches an entry point only through shims.run(service=...).
    for path, service in (("fleet/docs/service.py", "docs"), ("fleet/cache/service.py", "cache")):
        source = (converted_fleet.root / path).read_text()
        assert f'shims.run(main, service="{service}")' in source, path


def test_conversion_is_idempotent(converted_fleet: Conversion) -> None:
    for step in STEPS:
        proc = migrate_codemod(converted_fleet.root, step, "--check")
        assert proc.returncode == 0, f"a second {step[0]} run would change files: {proc.stdout}"


def test_original_fleet_passes_on_legacy(tmp_path: Path, mariadb: object, redis: object) -> None:
    root = copy_fleet(tmp_path / "fleet")
    assert_all_passed(run_fleet_tests(root, ["legacy"]), parity_test_count(FLEET))


def test_converted_fleet_passes_on_every_backend(
    converted_fleet: Conversion, mariadb: object, redis: object
) -> None:
    proc = run_fleet_tests(converted_fleet.root, BACKENDS)
    assert_all_passed(proc, len(BACKENDS) * parity_test_count(converted_fleet.root))
