"""``migrate flags`` and ``migrate flags set``, through the real CLI."""

from __future__ import annotations

import json
import os
import stat
from collections.abc import Callable
from pathlib import Path

import pytest
from cli_support import Run, run_subprocess

from shims.config import in_rollout, load_config

CLI = Callable[..., Run]

PYPROJECT = """\
# The fleet's flags. Keep this comment.
[project]
name = "fleet"  # inline comment

[tool.migrate]
default_backend = "legacy"  # everyone starts here

# docs talks to MariaDB
[tool.migrate.services.docs]
backend = "legacy"    # flipped in Q3
paths = ["fleet/docs"]

[tool.migrate.services.pdf-export]
backend = "asyncio"
rollout = 30

[tool.pytest.ini_options]
testpaths = ["tests"]
"""


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for var in list(os.environ):
        if var.startswith("MIGRATE_"):
            monkeypatch.delenv(var)
    monkeypatch.chdir(tmp_path)


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


# --- migrate flags ---------------------------------------------------------------------------


def test_flags_lists_services_with_sources(
    tmp_path: Path, cli: CLI, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = write(tmp_path / "pyproject.toml", PYPROJECT)
    instance = next(f"web-{i}" for i in range(100) if in_rollout("pdf-export", f"web-{i}", 30))
    monkeypatch.setenv("MIGRATE_INSTANCE", instance)
    monkeypatch.setenv("MIGRATE_BACKEND_DOCS", "uvloop")
    (tmp_path / "sub").mkdir()
    monkeypatch.chdir(tmp_path / "sub")
    result = cli("flags")
    assert result.code == 0, result.err
    lines = result.out.splitlines()
    assert lines[0] == f"config:   {path} (default_backend legacy, set in file)"
    assert lines[1].startswith(f"instance: {instance!r}")
    assert lines[2].split() == ["SERVICE", "BACKEND", "CONFIGURED", "DECIDED", "BY"]
    assert lines[3].split() == ["docs", "uvloop", "legacy", "environment", "MIGRATE_BACKEND_DOCS"]
    assert lines[4].split()[:4] == ["pdf-export", "asyncio", "asyncio", "(rollout"]
    assert lines[4].endswith(
        f"{path} [tool.migrate.services.pdf-export] (rollout 30%: instance {instance!r} in)"
    )


def test_flags_json_and_stray_override(
    tmp_path: Path, cli: CLI, monkeypatch: pytest.MonkeyPatch
) -> None:
    write(tmp_path / "migrate.toml", '[services.api]\nbackend = "asyncio"\n')
    monkeypatch.setenv("MIGRATE_BACKEND_APPI", "legacy")
    data = json.loads(cli("flags", "--json").out)
    assert data["config"] == str(tmp_path / "migrate.toml")
    assert data["services"] == [
        {"service": "api", "backend": "asyncio", "configured": "asyncio",
         "source": f"{tmp_path / 'migrate.toml'} [services.api]"},
    ]  # fmt: skip
    assert data["unmatched_environment"] == ["MIGRATE_BACKEND_APPI"]
    text = cli("flags").out
    assert "warning: MIGRATE_BACKEND_APPI is set but no configured service maps to it" in text


def test_flags_without_config(tmp_path: Path, cli: CLI) -> None:
    result = cli("flags")
    assert result.code == 0
    assert "no config file found" in result.out


def test_flags_bad_config_is_one_line(tmp_path: Path, cli: CLI) -> None:
    write(tmp_path / "migrate.toml", '[services.api]\nbackend = "gevent"\n')
    result = cli("flags")
    assert result.code == 2
    assert result.err == (
        f"migrate: error: {tmp_path / 'migrate.toml'} [services.api] backend: unknown backend "
        "'gevent'; valid backends: legacy, asyncio, uvloop, twisted\n"
    )


def test_flags_uvloop_missing_shows_error_row(
    tmp_path: Path, cli: CLI, monkeypatch: pytest.MonkeyPatch
) -> None:
    import sys

    write(
        tmp_path / "migrate.toml",
        '[services.a]\nbackend = "uvloop"\n[services.b]\nbackend = "asyncio"\n',
    )
    monkeypatch.setitem(sys.modules, "uvloop", None)
    result = cli("flags")
    assert result.code == 2
    assert "pip install 'migrate-toolkit[uvloop]'" in result.out
    assert any(line.split()[:2] == ["b", "asyncio"] for line in result.out.splitlines())


# --- migrate flags set -----------------------------------------------------------------------


def test_set_keeps_comments_and_layout(tmp_path: Path, cli: CLI) -> None:
    path = write(tmp_path / "pyproject.toml", PYPROJECT)
    path.chmod(0o640)
    result = cli("flags", "set", "docs", "asyncio")
    assert result.code == 0, result.err
    assert result.out.splitlines()[0] == (
        f"docs: legacy -> asyncio in {path} [tool.migrate.services.docs]"
    )
    assert path.read_text() == PYPROJECT.replace(
        'backend = "legacy"    # flipped in Q3', 'backend = "asyncio"    # flipped in Q3'
    )
    assert stat.S_IMODE(path.stat().st_mode) == 0o640
    assert sorted(p.name for p in tmp_path.iterdir()) == ["pyproject.toml"]


def test_set_rollout_and_remove_rollout(tmp_path: Path, cli: CLI) -> None:
    path = write(tmp_path / "pyproject.toml", PYPROJECT)
    result = cli("flags", "set", "pdf-export", "uvloop", "--rollout", "60")
    assert result.out.startswith("pdf-export: asyncio (rollout 30%) -> uvloop (rollout 60%)")
    service = load_config(path).services["pdf-export"]
    assert (service.backend, service.rollout) == ("uvloop", 60)
    result = cli("flags", "set", "pdf-export", "uvloop")
    assert result.out.startswith("pdf-export: uvloop (rollout 60%) -> uvloop in")
    assert load_config(path).services["pdf-export"].rollout is None
    assert (
        "rollout"
        not in path.read_text().split("[tool.migrate.services.pdf-export]")[1].split("[")[0]
    )


def test_set_a_registered_non_asyncio_backend_and_scan_does_not_call_it_flipped(
    tmp_path: Path, cli: CLI
) -> None:
    path = write(tmp_path / "pyproject.toml", PYPROJECT)
    result = cli("flags", "set", "docs", "twisted")
    assert result.code == 0, result.err
    assert result.out.startswith("docs: legacy -> twisted")
    assert load_config(path).services["docs"].backend == "twisted"
    listed = cli("flags", "--config", str(path))
    assert any(
        line.split()[:3] == ["docs", "twisted", "twisted"] for line in listed.out.splitlines()
    )
    from migrate._services import is_flipped

    assert not is_flipped("twisted") and is_flipped("uvloop") and not is_flipped("legacy")


def test_set_creates_missing_service_table(tmp_path: Path, cli: CLI) -> None:
    path = write(tmp_path / "pyproject.toml", PYPROJECT)
    result = cli("flags", "set", "realtime", "asyncio", "--rollout", "10")
    assert result.out.startswith(
        f"realtime: (not set) -> asyncio (rollout 10%) in {path} [tool.migrate.services.realtime]"
    )
    config = load_config(path)
    assert (config.services["realtime"].backend, config.services["realtime"].rollout) == (
        "asyncio",
        10,
    )
    assert config.services["docs"].paths == ("fleet/docs",)
    text = path.read_text()
    assert text.startswith(PYPROJECT.split("[tool.pytest")[0].rstrip("\n"))
    assert "# docs talks to MariaDB" in text


def test_set_in_migrate_toml_and_pyproject_without_migrate(tmp_path: Path, cli: CLI) -> None:
    conf = write(tmp_path / "migrate.toml", '# fleet flags\ndefault_backend = "legacy"\n')
    cli("flags", "set", "api", "asyncio")
    cli("flags", "set", "web", "uvloop", "--rollout", "5")
    assert conf.read_text() == (
        '# fleet flags\ndefault_backend = "legacy"\n\n[services.api]\nbackend = "asyncio"\n\n'
        '[services.web]\nbackend = "uvloop"\nrollout = 5\n'
    )
    other = write(tmp_path / "other" / "pyproject.toml", '[project]\nname = "x"\n')
    result = cli("flags", "set", "odd.name", "legacy", "--config", other)
    assert result.code == 0
    assert result.out.startswith(
        f'odd.name: (not set) -> legacy in {other} [tool.migrate.services."odd.name"]'
    )
    assert load_config(other).services["odd.name"].backend == "legacy"


def test_set_creates_file_with_config(tmp_path: Path, cli: CLI) -> None:
    target = tmp_path / "new" / "migrate.toml"
    target.parent.mkdir()
    result = cli("flags", "set", "api", "uvloop", "--config", target)
    assert result.code == 0
    assert f"created {target}" in result.err
    assert load_config(target).services["api"].backend == "uvloop"


def test_set_without_any_config_is_an_error(tmp_path: Path, cli: CLI) -> None:
    result = cli("flags", "set", "api", "asyncio")
    assert result.code == 2
    assert result.err == (
        "migrate: error: no config file found to edit; pass --config migrate.toml "
        "(or pyproject.toml) to create one\n"
    )


def test_set_is_a_noop_when_already_set(tmp_path: Path, cli: CLI) -> None:
    path = write(tmp_path / "pyproject.toml", PYPROJECT)
    before = path.stat().st_mtime_ns
    result = cli("flags", "set", "docs", "legacy")
    assert "docs: already legacy in" in result.out
    assert path.stat().st_mtime_ns == before


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (
            ["docs", "gevent"],
            "unknown backend 'gevent'; valid backends: legacy, asyncio, uvloop, twisted",
        ),
        (["docs", "asyncio", "--rollout", "101"], "--rollout must be from 0 to 100, got 101"),
        (["docs", "asyncio", "--rollout", "-1"], "--rollout must be from 0 to 100, got -1"),
    ],
)
def test_set_validates(tmp_path: Path, cli: CLI, argv: list[str], message: str) -> None:
    path = write(tmp_path / "pyproject.toml", PYPROJECT)
    result = cli("flags", "set", *argv)
    assert result.code == 2
    assert result.err == f"migrate: error: {message}\n"
    assert path.read_text() == PYPROJECT


def test_set_refuses_to_write_an_invalid_file(tmp_path: Path, cli: CLI) -> None:
    path = write(tmp_path / "migrate.toml", '[services.a]\nbackend = "asyncio"\nrolout = 3\n')
    result = cli("flags", "set", "b", "asyncio")
    assert result.code == 2
    assert "unknown key 'rolout'; did you mean 'rollout'?" in result.err
    assert path.read_text() == '[services.a]\nbackend = "asyncio"\nrolout = 3\n'


def test_set_fixes_a_bad_backend(tmp_path: Path, cli: CLI) -> None:
    path = write(tmp_path / "migrate.toml", '[services.a]\nbackend = "gevent"  # oops\n')
    result = cli("flags", "set", "a", "asyncio")
    assert result.code == 0, result.err
    assert path.read_text() == '[services.a]\nbackend = "asyncio"  # oops\n'


def test_set_malformed_file(tmp_path: Path, cli: CLI) -> None:
    path = write(tmp_path / "migrate.toml", "[services.a\nbackend = 1\n")
    result = cli("flags", "set", "a", "asyncio", "--config", path)
    assert result.code == 2
    assert result.err.startswith(f"migrate: error: {path}: cannot edit, malformed TOML:")
    assert len(result.err.splitlines()) == 1


def test_set_notes_environment_override(
    tmp_path: Path, cli: CLI, monkeypatch: pytest.MonkeyPatch
) -> None:
    write(tmp_path / "pyproject.toml", PYPROJECT)
    monkeypatch.setenv("MIGRATE_BACKEND_DOCS", "legacy")
    result = cli("flags", "set", "docs", "asyncio")
    assert "note: an environment override ('legacy') still wins over the file here" in result.out


def test_flags_set_subprocess_then_shims_sees_it(tmp_path: Path) -> None:
    path = write(tmp_path / "pyproject.toml", PYPROJECT)
    env = {k: "" for k in os.environ if k.startswith("MIGRATE_")}
    result = run_subprocess("flags", "set", "docs", "asyncio", cwd=tmp_path, env=env)
    assert result.code == 0, result.err
    shown = run_subprocess("flags", "--json", cwd=tmp_path, env=env)
    rows = {r["service"]: r for r in json.loads(shown.out)["services"]}
    assert rows["docs"]["backend"] == "asyncio"
    assert rows["docs"]["source"] == f"{path} [tool.migrate.services.docs]"
