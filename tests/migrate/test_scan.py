"""``migrate scan``: per-service readiness on a small temporary monorepo."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from migrate import main
from migrate._lint.readiness import ServiceReport, scan_path
from shims import FlagError
from shims.config import in_rollout

INSTANCE = "scan-test-instance"

LEGACY_GENERATOR = """
from legacy import runtime

@runtime.coroutine
def fetch(conn):
    data = yield conn.read_some()
    yield runtime.sleep(0.1)
    return data
"""
LEGACY_ASYNC = """
from legacy import runtime as rt

async def tick():
    await rt.sleep(1)
    t = rt.spawn(tick())
    return t
"""
SHIM = """
import shims

async def tick(writer):
    await shims.sleep(1)
    shims.spawn(tick(writer))
    return not writer.is_closing()
"""


@pytest.fixture(autouse=True)
def _isolated(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for name in list(os.environ):
        if name.startswith("MIGRATE_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("MIGRATE_INSTANCE", INSTANCE)
    monkeypatch.chdir(tmp_path)


def write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text))


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    """Four services at different stages, one nested inside another."""
    write(
        tmp_path / "pyproject.toml",
        """
        [project]
        name = "fleet"

        [tool.migrate]
        default_backend = "legacy"

        [tool.migrate.services.billing]
        backend = "legacy"
        paths = ["services/billing"]

        [tool.migrate.services.search]
        backend = "legacy"
        paths = ["services/search"]

        [tool.migrate.services.api]
        backend = "asyncio"
        paths = ["services/api"]

        [tool.migrate.services.api-admin]
        backend = "asyncio"
        rollout = 40
        paths = ["services/api/admin"]
        """,
    )
    write(tmp_path / "services" / "billing" / "a.py", LEGACY_GENERATOR)
    write(tmp_path / "services" / "billing" / "b.py", LEGACY_ASYNC)
    write(tmp_path / "services" / "search" / "a.py", SHIM)
    write(tmp_path / "services" / "api" / "a.py", LEGACY_ASYNC)
    write(tmp_path / "services" / "api" / "admin" / "a.py", SHIM)
    write(tmp_path / "services" / "api" / "admin" / "b.py", SHIM)
    write(tmp_path / "tools" / "x.py", LEGACY_ASYNC)  # in no service
    return tmp_path


def by_name(reports: list[ServiceReport]) -> dict[str, ServiceReport]:
    return {r.name: r for r in reports}


def test_scan_counts_per_service(repo: Path) -> None:
    reports = scan_path(repo)
    assert [r.name for r in reports] == ["billing", "search", "api", "api-admin"]
    billing, search, api, admin = reports
    # a.py: runtime.coroutine, runtime.sleep; b.py: rt.sleep, rt.spawn
    assert (billing.files, billing.legacy_sites, billing.generator_coroutines) == (2, 4, 1)
    assert billing.findings == {"MIG006": 1}
    assert billing.verdict == "not ready: 4 legacy call sites, 1 generator coroutine left"
    assert not billing.ready
    assert (search.files, search.legacy_sites, search.generator_coroutines) == (1, 0, 0)
    assert search.findings == {"MIG001": 1, "MIG004": 1}
    assert search.ready and search.verdict == "ready to flip"
    # api is flipped: its legacy uses are MIG003 findings; admin's files are not counted twice
    assert (api.files, api.legacy_sites) == (1, 2)
    assert api.findings == {"MIG003": 2}
    assert api.verdict == "flipped but still uses legacy API: 2 legacy call sites"
    assert admin.files == 2
    assert admin.findings == {"MIG001": 2, "MIG004": 2}


def test_flag_and_rollout_come_from_resolve_backend(repo: Path) -> None:
    billing, _, api, admin = scan_path(repo)
    assert billing.backend == "legacy"
    assert billing.source == f"{repo / 'pyproject.toml'} [tool.migrate.services.billing]"
    assert api.backend == "asyncio"
    assert (admin.configured_backend, admin.rollout) == ("asyncio", 40)
    inside = in_rollout("api-admin", INSTANCE, 40)
    assert admin.backend == ("asyncio" if inside else "legacy")
    assert f"rollout 40%: instance {INSTANCE!r} {'in' if inside else 'out'}" in admin.source
    assert admin.verdict == "rolling out (40%)"


def test_environment_override_is_shown_with_its_source(
    repo: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MIGRATE_BACKEND_SEARCH", "asyncio")
    search = by_name(scan_path(repo))["search"]
    assert (search.backend, search.source) == ("asyncio", "environment MIGRATE_BACKEND_SEARCH")
    assert search.verdict == "flipped"


def test_path_inside_the_project_restricts_the_files(repo: Path) -> None:
    reports = by_name(scan_path(repo / "services" / "api"))
    assert reports["api"].files == 1
    assert reports["api-admin"].files == 2
    assert reports["billing"].files == 0
    assert reports["billing"].verdict == "no Python files under its paths"


def test_migrate_toml_form(tmp_path: Path) -> None:
    write(
        tmp_path / "migrate.toml",
        '[services.svc]\nbackend = "legacy"\npaths = ["src"]\n',
    )
    write(tmp_path / "src" / "m.py", LEGACY_GENERATOR)
    [report] = scan_path(tmp_path)
    assert (report.name, report.legacy_sites, report.generator_coroutines) == ("svc", 2, 1)


def test_no_config_raises_flag_error(tmp_path: Path) -> None:
    with pytest.raises(FlagError, match="no migrate config found"):
        scan_path(tmp_path)


def test_cli_table_is_aligned(repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["scan"]) == 0
    lines = capsys.readouterr().out.splitlines()
    header, *rows = lines
    assert header.split()[:4] == ["SERVICE", "BACKEND", "ROLLOUT", "FILES"]
    assert [row.split()[0] for row in rows] == ["billing", "search", "api", "api-admin"]
    # every VERDICT cell starts in the header's VERDICT column
    column = header.index("VERDICT")
    assert rows[0][column:].startswith("not ready: 4 legacy call sites")
    assert rows[1][column:].startswith("ready to flip")
    # numbers are right-aligned under their header
    files_end = header.index("FILES") + len("FILES")
    assert [row[files_end - 1] for row in rows] == ["2", "1", "1", "2"]
    # flag sources are shown relative to the working directory
    assert "pyproject.toml [tool.migrate.services.billing]" in rows[0]
    assert str(repo) not in rows[0]


def test_cli_json(repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["scan", "--json", str(repo)]) == 0
    payload = json.loads(capsys.readouterr().out)
    first = payload["services"][0]
    assert set(first) == {
        "name",
        "paths",
        "files",
        "legacy_sites",
        "generator_coroutines",
        "findings",
        "backend",
        "source",
        "configured_backend",
        "rollout",
        "ready",
        "verdict",
        "errors",
        "hand_work",
    }
    assert (first["name"], first["legacy_sites"], first["ready"]) == ("billing", 4, False)


def test_cli_without_config_is_one_line_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["scan", str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1
    assert err[0].startswith("migrate scan: error: no migrate config found")


def test_cli_unresolvable_flag_is_reported_and_exits_2(
    repo: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("MIGRATE_BACKEND_SEARCH", "gevent")
    assert main(["scan"]) == 2
    out, err = capsys.readouterr()
    assert "flag error" in out
    assert "service 'search'" in err and "gevent" in err


def test_parallel_scan_matches_serial(repo: Path) -> None:
    for i in range(30):
        write(repo / "services" / "billing" / "more" / f"m{i}.py", LEGACY_ASYNC)
    serial = scan_path(repo, jobs=1)
    assert serial[0].legacy_sites == 4 + 30 * 2
    assert scan_path(repo, jobs=2) == serial


def test_python_dash_m_migrate_scan(repo: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MIGRATE_")}
    proc = subprocess.run(
        [sys.executable, "-m", "migrate", "scan", "--json"],
        cwd=repo / "services",
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    names = [s["name"] for s in json.loads(proc.stdout)["services"]]
    assert names == ["billing", "search", "api", "api-admin"]
