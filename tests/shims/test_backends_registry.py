"""The one registry of backends: register/get/names, entry points, and every bad input."""

from __future__ import annotations

import ast
import subprocess
import textwrap
from pathlib import Path

import pytest
from child_python import python

import shims
from shims import FlagError, _registry
from shims.backends import Backend, get, names, register

ROOT = Path(__file__).resolve().parents[2]


def test_bundled_backends_are_ordinary_registrations() -> None:
    bundled = ["legacy", "asyncio", "uvloop"]  # expected value, not a source of names
    assert names(available=False)[:3] == bundled
    assert all(isinstance(get(name), Backend) for name in bundled)
    assert get("asyncio").asyncio_based and get("uvloop").asyncio_based
    assert not get("legacy").asyncio_based


def _backend_literals(path: Path, backend_names: set[str]) -> list[str]:
    found = []
    tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
    for node in ast.walk(tree):
        if not isinstance(node, ast.Tuple | ast.List | ast.Set):
            continue
        values = {e.value for e in node.elts if isinstance(e, ast.Constant)}
        if len(values) >= 2 and values <= backend_names:
            line = path.read_text(encoding="utf-8").splitlines()[node.lineno - 1]
            if "expected value, not a source of names" not in line:
                found.append(f"{path.relative_to(ROOT)}:{node.lineno}: {line.strip()}")
    return found


def test_no_hand_written_backend_list_remains() -> None:
    """Backend names come from shims.backends.names(); a literal list of them goes stale."""
    backend_names = set(names(available=False))
    offenders = []
    for top in ("shims", "migrate", "codemods", "legacy", "tests", "benchmarks", "examples"):
        for path in sorted((ROOT / top).rglob("*.py")):
            offenders += _backend_literals(path, backend_names)
    assert not offenders, "hand-written backend lists:\n" + "\n".join(offenders)


def test_register_refuses_bad_names_objects_and_duplicates() -> None:
    legacy = get("legacy")
    with pytest.raises(FlagError, match=r"backend name 'a,b' .* without commas or spaces"):
        register("a,b", legacy)
    with pytest.raises(
        FlagError, match=r"backend 'scratch' .* is 42, not a shims.backends.Backend"
    ):
        register("scratch", 42)  # type: ignore[arg-type]
    with pytest.raises(FlagError, match=r"backend 'asyncio' is registered twice: by "):
        register("asyncio", legacy)
    assert "scratch" not in names(available=False)


def test_unknown_name_has_did_you_mean() -> None:
    with pytest.raises(FlagError, match=r"unknown backend 'asynico' \(did you mean 'asyncio'\?\)"):
        get("asynico")


def test_one_object_under_a_second_name_runs_as_that_name() -> None:
    register("company-legacy", get("legacy"))
    try:

        async def main() -> tuple[str, str]:
            server = await shims.serve(lambda conn: conn.read_some(), "127.0.0.1", 0)
            conn = await shims.connect("127.0.0.1", server.port, timeout=5)
            try:
                return shims.current_backend(), conn.backend
            finally:
                conn.close()
                server.close()
                await server.wait_closed()

        assert shims.run(main, backend="company-legacy") == ("company-legacy", "company-legacy")
        assert "company-legacy" in names()
    finally:
        _registry.unregister("company-legacy")


# -- entry points, in a fresh process with a fake installed distribution ------------------


def _install(site: Path, dist: str, entries: dict[str, str], modules: dict[str, str]) -> None:
    info = site / f"{dist}-1.0.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: 1.0\n")
    lines = "".join(f"{name} = {target}\n" for name, target in entries.items())
    (info / "entry_points.txt").write_text(f"[shims.backends]\n{lines}")
    for module, source in modules.items():
        (site / f"{module}.py").write_text(textwrap.dedent(source))


def _python(site: Path, code: str, **env: str) -> subprocess.CompletedProcess[str]:
    return python(code, path=(site, ROOT), **env)


RUN_MAIN = """
    import shims

    async def main():
        return shims.current_backend()

    print(shims.run(main, service="api"))
"""

GOOD = """
    from shims.backends._bundled.legacy import LegacyBackend

    backend = LegacyBackend()
"""


def test_entry_point_backend_is_a_valid_flag_value(tmp_path: Path) -> None:
    _install(
        tmp_path, "company_sched", {"company": "company_backend:backend"}, {"company_backend": GOOD}
    )
    result = _python(tmp_path, RUN_MAIN, MIGRATE_BACKEND_API="company")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "company"
    listed = _python(tmp_path, "import shims; print(shims.backends.names())")
    assert "'company'" in listed.stdout


def test_entry_point_that_fails_to_import_stops_only_its_selection(tmp_path: Path) -> None:
    broken = "import company_scheduler_core  # not installed\n"
    _install(
        tmp_path,
        "company_sched",
        {"company": "company_backend:backend"},
        {"company_backend": broken},
    )
    result = _python(tmp_path, RUN_MAIN, MIGRATE_BACKEND="company")
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert result.stderr.strip().splitlines()[-1] == (
        "shims: backend 'company' (entry point 'company_backend:backend' of package "
        "'company_sched') failed to import: ModuleNotFoundError: No module named "
        "'company_scheduler_core'; reinstall or fix package 'company_sched'"
    )
    fine = _python(tmp_path, RUN_MAIN, MIGRATE_BACKEND="asyncio")
    assert fine.returncode == 0 and fine.stdout.strip() == "asyncio"


def test_two_packages_registering_one_name_stop_its_selection(tmp_path: Path) -> None:
    _install(tmp_path, "first_pkg", {"company": "company_a:backend"}, {"company_a": GOOD})
    _install(tmp_path, "second_pkg", {"company": "company_b:backend"}, {"company_b": GOOD})
    result = _python(tmp_path, RUN_MAIN, MIGRATE_BACKEND="company")
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith("shims: backend 'company' is registered twice: by entry point ")
    assert "first_pkg" in last and "second_pkg" in last


def test_entry_point_naming_a_non_backend(tmp_path: Path) -> None:
    _install(
        tmp_path,
        "company_sched",
        {"company": "company_backend:backend"},
        {"company_backend": "backend = 42\n"},
    )
    result = _python(tmp_path, RUN_MAIN, MIGRATE_BACKEND="company")
    assert result.returncode == 1
    assert "is 42, not a shims.backends.Backend instance" in result.stderr.strip().splitlines()[-1]


def test_missing_package_stops_the_process_with_one_line(tmp_path: Path) -> None:
    code = "import sys\nsys.modules['uvloop'] = None\n" + textwrap.dedent(RUN_MAIN)
    result = _python(tmp_path, code, MIGRATE_BACKEND="uvloop")
    assert result.returncode == 1
    assert result.stdout == ""
    assert result.stderr.strip() == (
        "shims: backend 'uvloop' was requested (environment MIGRATE_BACKEND) but uvloop is not "
        "importable; install it with: pip install 'migrate-toolkit[uvloop]'"
    )
