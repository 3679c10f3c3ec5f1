"""Bad input never damages a file and never stops the run; each case gets one clear line."""

from __future__ import annotations

import codecs
import os
import stat
from collections.abc import Callable
from pathlib import Path

import pytest
from cli_support import SAMPLE, Run, run_subprocess

RENAME = f"{SAMPLE}.RenameCommand"
CLI = Callable[..., Run]
BEFORE = "def f():\n    old_sleep(1)\n"
AFTER = "def f():\n    new_sleep(1)\n"


def write(path: Path, data: str | bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data.encode() if isinstance(data, str) else data)
    return path


def run_with_good_neighbour(cli: CLI, tmp_path: Path, *extra: str) -> tuple[Run, Path]:
    good = write(tmp_path / "zz_good.py", BEFORE)
    result = cli("codemod", RENAME, *extra, tmp_path)
    assert good.read_text() == AFTER, "a bad file stopped the run"
    return result, good


def failure_lines(result: Run, path: Path) -> list[str]:
    return [line for line in result.err.splitlines() if line.startswith(f"{path}:")]


def test_syntax_error(tmp_path: Path, cli: CLI) -> None:
    bad = write(tmp_path / "bad.py", "def f(:\n    old_sleep(1)\n")
    result, _ = run_with_good_neighbour(cli, tmp_path)
    assert result.code == 1
    assert failure_lines(result, bad) == [f"{bad}: failed: syntax error at line 1: invalid syntax"]
    assert bad.read_text() == "def f(:\n    old_sleep(1)\n"


def test_undecodable_bytes(tmp_path: Path, cli: CLI) -> None:
    data = b"x = '\xff\xfe'\nold_sleep(1)\n"
    bad = write(tmp_path / "bad.py", data)
    result, _ = run_with_good_neighbour(cli, tmp_path)
    assert result.code == 1
    assert failure_lines(result, bad) == [
        f"{bad}: failed: cannot decode as utf-8 (invalid start byte at byte 5); fix the bytes "
        "or declare the right encoding (PEP 263 coding cookie)"
    ]
    assert bad.read_bytes() == data


def test_coding_cookie_is_honoured_both_ways(tmp_path: Path, cli: CLI) -> None:
    text = "# -*- coding: latin-1 -*-\nname = 'caf\u00e9'\nold_sleep(1)\n"
    path = write(tmp_path / "latin.py", text.encode("latin-1"))
    result = cli("codemod", RENAME, path)
    assert result.code == 0, result.err
    assert path.read_bytes() == text.replace("old_sleep", "new_sleep").encode("latin-1")


def test_unknown_coding_cookie(tmp_path: Path, cli: CLI) -> None:
    bad = write(tmp_path / "bad.py", "# coding: klingon\nold_sleep(1)\n")
    result, _ = run_with_good_neighbour(cli, tmp_path)
    assert failure_lines(result, bad) == [
        f"{bad}: failed: bad coding declaration: unknown encoding: klingon"
    ]


def test_result_not_encodable_in_file_encoding(tmp_path: Path, cli: CLI) -> None:
    text = b"# coding: ascii\nold_sleep(1)\n"
    path = write(tmp_path / "ascii.py", text)
    result = cli("codemod", f"{SAMPLE}.UnicodeRenameCommand", path)
    assert result.code == 1
    assert "result cannot be written in the file's encoding ascii" in result.err
    assert path.read_bytes() == text


def test_nul_bytes(tmp_path: Path, cli: CLI) -> None:
    data = b"old_sleep(1)\n\x00\x00binary"
    bad = write(tmp_path / "bad.py", data)
    result, _ = run_with_good_neighbour(cli, tmp_path)
    assert failure_lines(result, bad) == [f"{bad}: failed: contains NUL bytes; not Python source"]
    assert bad.read_bytes() == data


def test_bom_is_kept(tmp_path: Path, cli: CLI) -> None:
    path = write(tmp_path / "bom.py", codecs.BOM_UTF8 + BEFORE.encode())
    assert cli("codemod", RENAME, path).code == 0
    assert path.read_bytes() == codecs.BOM_UTF8 + AFTER.encode()


def test_crlf_is_kept(tmp_path: Path, cli: CLI) -> None:
    path = write(tmp_path / "crlf.py", b"def f():\r\n    old_sleep(1)\r\n\r\nx = 1\r\n")
    assert cli("codemod", RENAME, path).code == 0
    assert path.read_bytes() == b"def f():\r\n    new_sleep(1)\r\n\r\nx = 1\r\n"


def test_mode_is_kept(tmp_path: Path, cli: CLI) -> None:
    path = write(tmp_path / "tool.py", BEFORE)
    path.chmod(0o751)
    assert cli("codemod", RENAME, path).code == 0
    assert path.read_text() == AFTER
    assert stat.S_IMODE(path.stat().st_mode) == 0o751
    assert [p.name for p in tmp_path.iterdir()] == ["tool.py"], "temporary file left behind"


def test_read_only_file_is_not_changed(tmp_path: Path, cli: CLI) -> None:
    path = write(tmp_path / "ro.py", BEFORE)
    path.chmod(0o444)
    result, _ = run_with_good_neighbour(cli, tmp_path)
    assert failure_lines(result, path) == [
        f"{path}: failed: file is read-only; not changed (make it writable to convert it)"
    ]
    assert path.read_text() == BEFORE


@pytest.mark.skipif(os.geteuid() == 0, reason="root can read a chmod 000 file")
def test_unreadable_file(tmp_path: Path, cli: CLI) -> None:
    path = write(tmp_path / "secret.py", BEFORE)
    path.chmod(0)
    result, _ = run_with_good_neighbour(cli, tmp_path)
    assert failure_lines(result, path) == [f"{path}: failed: cannot read: Permission denied"]


def test_unreadable_file_reported(
    tmp_path: Path, cli: CLI, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = write(tmp_path / "secret.py", BEFORE)
    real_open = os.open

    def deny(file: object, flags: int, *args: object) -> int:
        if str(file) == str(path):
            raise PermissionError(13, "Permission denied", str(file))
        return real_open(file, flags, *args)  # type: ignore[arg-type]

    monkeypatch.setattr(os, "open", deny)
    result, _ = run_with_good_neighbour(cli, tmp_path, "--jobs", "1")
    assert failure_lines(result, path) == [f"{path}: failed: cannot read: Permission denied"]
    assert result.code == 1


def test_fifo_is_not_read(tmp_path: Path, cli: CLI) -> None:
    fifo = tmp_path / "pipe.py"
    os.mkfifo(fifo)
    result, _ = run_with_good_neighbour(cli, tmp_path)
    assert failure_lines(result, fifo) == [f"{fifo}: skipped: not a regular file"]


def test_symlink_out_of_tree_not_followed(tmp_path: Path, cli: CLI) -> None:
    outside = write(tmp_path / "outside" / "secret.py", BEFORE)
    tree = tmp_path / "tree"
    tree.mkdir()
    link = tree / "link.py"
    link.symlink_to(outside)
    dir_link = tree / "linked_dir"
    dir_link.symlink_to(outside.parent, target_is_directory=True)
    result, _ = run_with_good_neighbour(cli, tree)
    assert outside.read_text() == BEFORE
    assert link.is_symlink()
    assert failure_lines(result, link) == [
        f"{link}: skipped: file symlink to {outside} outside the tree; not followed"
    ]
    assert failure_lines(result, dir_link) == [
        f"{dir_link}: skipped: directory symlink to {outside.parent} outside the tree; not followed"
    ]
    assert result.code == 0


def test_in_tree_symlink_stays_a_link_and_target_is_converted(tmp_path: Path, cli: CLI) -> None:
    target = write(tmp_path / "real.py", BEFORE)
    link = tmp_path / "alias.py"
    link.symlink_to(target)
    result = cli("codemod", RENAME, tmp_path)
    assert result.code == 0
    assert link.is_symlink()
    assert target.read_text() == AFTER
    assert failure_lines(result, link) == [
        f"{link}: skipped: file symlink; not followed (its target inside the tree is "
        "processed itself)"
    ]
    assert "1 changed" in result.err


def test_file_modified_during_run_is_not_overwritten(tmp_path: Path, cli: CLI) -> None:
    path = write(tmp_path / "edit_me.py", BEFORE)
    result = cli("codemod", f"{SAMPLE}.EditDuringRunCommand", tmp_path)
    assert result.code == 1
    assert failure_lines(result, path) == [
        f"{path}: failed: modified during the run; not overwritten (run again to pick it up)"
    ]
    assert path.read_text() == BEFORE + "# saved by someone else\n"


def test_codemod_crash_fails_only_that_file(tmp_path: Path, cli: CLI) -> None:
    bad = write(tmp_path / "bad.py", BEFORE + "crash_here = 1\n")
    good = write(tmp_path / "zz.py", BEFORE)
    result = cli("codemod", f"{SAMPLE}.CrashCommand", tmp_path)
    assert good.read_text() == AFTER
    assert failure_lines(result, bad) == [
        f"{bad}: failed: codemod crashed: RuntimeError: boom in the codemod"
    ]
    assert result.code == 1


def test_result_that_does_not_compile_is_not_written(tmp_path: Path, cli: CLI) -> None:
    path = write(tmp_path / "a.py", BEFORE)
    result = cli("codemod", f"{SAMPLE}.AwaitOutsideAsyncCommand", "--diff", path)
    assert result.out == ""
    result = cli("codemod", f"{SAMPLE}.AwaitOutsideAsyncCommand", path)
    assert result.code == 1
    assert failure_lines(result, path) == [
        f"{path}: failed: result would not compile (line 2: 'await' outside async function); "
        "file left unchanged"
    ]
    assert path.read_text() == BEFORE


def test_subprocess_bad_inputs_one_line_each_no_traceback(tmp_path: Path) -> None:
    write(tmp_path / "syntax.py", "old_sleep(\n")
    write(tmp_path / "nul.py", b"old_sleep\x00")
    write(tmp_path / "undecodable.py", b"old_sleep = '\xff'\n")
    good = write(tmp_path / "good.py", BEFORE)
    result = run_subprocess("codemod", RENAME, "--jobs", "2", tmp_path)
    assert result.code == 1
    assert "Traceback" not in result.err
    assert good.read_text() == AFTER
    failed = [line for line in result.err.splitlines() if ": failed: " in line]
    assert [Path(line.split(":", 1)[0]).name for line in failed] == [
        "nul.py",
        "syntax.py",
        "undecodable.py",
    ]
    assert "4 files seen, 2 parsed, 1 changed, 0 refused, 3 failed" in result.err


@pytest.mark.parametrize("jobs", ["1", "2"])
def test_codemod_calling_sys_exit_fails_only_that_file(tmp_path: Path, cli: CLI, jobs: str) -> None:
    for i in range(8):
        write(tmp_path / f"m{i}.py", BEFORE)
    bad = write(tmp_path / "m3.py", BEFORE + "exit_here = 1\n")
    result = cli("codemod", f"{SAMPLE}.ExitCommand", "--jobs", jobs, tmp_path)
    assert result.code == 1
    assert failure_lines(result, bad) == [f"{bad}: failed: codemod called sys.exit(3)"]
    assert "7 changed" in result.err
