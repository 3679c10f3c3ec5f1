"""The ``migrate`` entry point: help texts, usage errors, the error policy, exit codes."""

from __future__ import annotations

import io
import os
import subprocess
import sys
import types
from collections.abc import Callable
from pathlib import Path

import pytest
from cli_support import Run, run_subprocess

import migrate
from migrate._report import Progress

CLI = Callable[..., Run]


def test_all_matches_the_public_names() -> None:
    public = {
        name
        for name, value in vars(migrate).items()
        if not name.startswith("_") and not isinstance(value, types.ModuleType)
    }
    assert public <= set(migrate.__all__)
    assert all(getattr(migrate, name) is not None for name in migrate.__all__)
    assert callable(migrate.main) and callable(migrate.lint_source)


def test_commands_that_need_no_codemod_start_without_libcst() -> None:
    probe = (
        "import sys, migrate\n"
        "migrate._cli.build_parser()\n"
        "assert migrate.main(['flags', '--help']) == 0\n"
        "heavy = sorted(m for m in sys.modules if m.split('.')[0] in ('libcst', 'codemods'))\n"
        "print(heavy)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True, timeout=60
    )
    assert done.stdout.splitlines()[-1] == "[]"


def test_top_level_help_lists_commands(cli: CLI) -> None:
    result = cli("--help")
    assert result.code == 0
    for command in ("codemod", "flags", "parity", "demo"):
        assert f"    {command}" in result.out
    assert "Exit codes: 0 ok, 1 something to act on" in result.out


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["codemod", "--help"], "--diff"),
        (["flags", "--help"], "MIGRATE_CONFIG"),
        (["flags", "set", "--help"], "--rollout N"),
        (["parity", "--help"], "--backends NAMES"),
        (["demo", "--help"], "--skip-parity"),
    ],
)
def test_subcommand_help(cli: CLI, argv: list[str], expected: str) -> None:
    result = cli(*argv)
    assert result.code == 0
    assert expected in result.out


def test_no_command_is_one_line_usage_error(cli: CLI) -> None:
    result = cli()
    assert result.code == 2
    assert result.err == (
        "migrate: error: the following arguments are required: COMMAND (see 'migrate --help')\n"
    )


def test_unknown_option_is_rejected_outside_parity(cli: CLI, tmp_path: Path) -> None:
    result = cli("flags", "--bogus")
    assert result.code == 2
    assert result.err == "migrate: error: unrecognized arguments: --bogus (see 'migrate --help')\n"


def test_unknown_command(cli: CLI) -> None:
    result = cli("frobnicate")
    assert result.code == 2
    assert "invalid choice: 'frobnicate'" in result.err
    assert len(result.err.splitlines()) == 1


def test_config_error_is_one_line_exit_2(tmp_path: Path) -> None:
    bad = tmp_path / "migrate.toml"
    bad.write_text("default_backend = 'trio'\n")
    result = run_subprocess("flags", cwd=tmp_path, env={"MIGRATE_CONFIG": str(bad)})
    assert result.code == 2
    assert result.err == (
        f"migrate: error: {bad}: default_backend: unknown backend 'trio'; "
        "valid backends: legacy, asyncio, uvloop, twisted\n"
    )


def test_internal_error_has_no_traceback(cli: CLI, monkeypatch: pytest.MonkeyPatch) -> None:
    import migrate._flagscmd as flagscmd

    def broken(*args: object, **kwargs: object) -> None:
        raise KeyError("boom")

    monkeypatch.setattr(flagscmd, "load_config", broken)
    monkeypatch.setattr(flagscmd, "find_config", lambda: Path("x.toml"))
    result = cli("flags")
    assert result.code == 3
    assert result.err == (
        "migrate: internal error: KeyError: 'boom' (rerun with MIGRATE_DEBUG=1 for the "
        "traceback, and please report it)\n"
    )
    monkeypatch.setenv("MIGRATE_DEBUG", "1")
    with pytest.raises(KeyError):
        cli("flags")


def test_broken_pipe_is_quiet(tmp_path: Path) -> None:
    for i in range(30):
        (tmp_path / f"m{i}.py").write_text("old_sleep(1)\n" * 200)
    env = dict(os.environ, PYTHONPATH=str(Path(__file__).parent))
    proc = subprocess.Popen(
        [sys.executable, "-m", "migrate", "codemod", "cli_sample_codemods.RenameCommand",
         "--diff", "--jobs", "1", str(tmp_path)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env,
    )  # fmt: skip
    assert proc.stdout is not None and proc.stderr is not None
    proc.stdout.readline()
    proc.stdout.close()  # like `| head -1`
    err = proc.stderr.read().decode()
    proc.stderr.close()
    assert proc.wait(timeout=60) == 1
    assert "Traceback" not in err
    assert all(p.read_text() == "old_sleep(1)\n" * 200 for p in tmp_path.glob("*.py"))


def test_python_dash_m_and_console_script_agree(tmp_path: Path) -> None:
    result = run_subprocess("--help")
    assert result.code == 0
    assert result.out.startswith("usage: migrate ")


def test_progress_bar_draws_and_clears() -> None:
    stream = io.StringIO()
    bar = Progress(4, stream=stream, enabled=True, label="legacy-to-shim")
    bar.advance(2)
    bar.print("a.py: rewritten")
    bar.advance(2)
    bar.close()
    text = stream.getvalue()
    assert "legacy-to-shim [###############---------------] 2/4 files" in text
    assert "\r\033[Ka.py: rewritten\n" in text
    assert "[##############################] 4/4 files" in text
    assert text.endswith("\r\033[K")


def test_progress_bar_off_prints_plain_lines() -> None:
    stream = io.StringIO()
    bar = Progress(4, stream=stream, enabled=False, label="x")
    bar.advance(4)
    bar.print("a.py: rewritten")
    bar.close()
    assert stream.getvalue() == "a.py: rewritten\n"
