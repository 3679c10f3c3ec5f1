"""``migrate codemod``: modes, options, discovery, and every bad-input case, via the real CLI."""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path

import pytest
from cli_support import SAMPLE, Run

RENAME = f"{SAMPLE}.RenameCommand"
CLI = Callable[..., Run]

BEFORE = "import time\n\n\ndef f():\n    old_sleep(1)  # keep this comment\n"
AFTER = "import time\n\n\ndef f():\n    new_sleep(1)  # keep this comment\n"


def write(path: Path, text: str | bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text, encoding="utf-8")
    return path


# --- modes ---------------------------------------------------------------------------------


def test_rewrites_in_place_and_leaves_others_alone(tmp_path: Path, cli: CLI) -> None:
    changed = write(tmp_path / "a.py", BEFORE)
    other = write(tmp_path / "pkg" / "b.py", "x = 1\n")
    os.utime(other, ns=(1_000_000_000, 1_000_000_000))
    result = cli("codemod", RENAME, tmp_path)
    assert result.code == 0, result.err
    assert changed.read_text() == AFTER
    assert other.read_text() == "x = 1\n"
    assert other.stat().st_mtime_ns == 1_000_000_000
    assert f"{changed}: rewritten" in result.err
    assert "2 files seen, 1 parsed, 1 changed, 0 refused, 0 failed, 0 skipped" in result.err
    assert result.out == ""


def test_idempotent_second_run(tmp_path: Path, cli: CLI) -> None:
    write(tmp_path / "a.py", BEFORE)
    assert cli("codemod", RENAME, tmp_path).code == 0
    again = cli("codemod", RENAME, "--check", tmp_path)
    assert again.code == 0
    assert "0 would change" in again.err


def test_diff_writes_nothing(tmp_path: Path, cli: CLI) -> None:
    path = write(tmp_path / "a.py", BEFORE)
    result = cli("codemod", RENAME, "--diff", path)
    assert result.code == 0
    assert path.read_text() == BEFORE
    assert f"--- a/{path}\n+++ b/{path}\n" in result.out
    assert "-    old_sleep(1)  # keep this comment\n+    new_sleep(1)  # keep this comment\n" in (
        result.out
    )
    assert "1 would change" in result.err


def test_check_exits_1_when_changes_pending(tmp_path: Path, cli: CLI) -> None:
    path = write(tmp_path / "a.py", BEFORE)
    result = cli("codemod", RENAME, "--check", tmp_path)
    assert result.code == 1
    assert path.read_text() == BEFORE
    assert f"{path}: would change" in result.err
    write(path, AFTER)
    assert cli("codemod", RENAME, "--check", tmp_path).code == 0


def test_diff_and_check_are_exclusive(tmp_path: Path, cli: CLI) -> None:
    result = cli("codemod", RENAME, "--diff", "--check", tmp_path)
    assert result.code == 2
    assert "not allowed with argument" in result.err


def test_json_report(tmp_path: Path, cli: CLI) -> None:
    write(tmp_path / "a.py", BEFORE)
    write(tmp_path / "b.py", "def g(x):\n    x.old_sleep(2)\n")
    write(tmp_path / "bad.py", "old_sleep(\n")
    write(tmp_path / "c.py", "y = 2\n")
    result = cli("codemod", RENAME, "--json", "--check", tmp_path)
    assert result.code == 1
    assert result.err == ""
    report = json.loads(result.out)
    assert report["codemod"] == RENAME
    assert report["mode"] == "check"
    assert report["exit_code"] == 1
    summary = report["summary"]
    assert (summary["seen"], summary["parsed"], summary["changed"]) == (4, 3, 1)
    assert (summary["refused"], summary["failed"], summary["unchanged"]) == (1, 1, 2)
    by_path = {Path(f["path"]).name: f for f in report["files"]}
    assert set(by_path) == {"a.py", "b.py", "bad.py"}
    assert by_path["a.py"]["status"] == "changed"
    assert by_path["b.py"]["warnings"] == ["line 2: attribute access .old_sleep left unchanged"]
    assert by_path["bad.py"]["status"] == "failed"
    assert "syntax error" in by_path["bad.py"]["reason"]


def test_json_with_diff_carries_the_diff(tmp_path: Path, cli: CLI) -> None:
    write(tmp_path / "a.py", BEFORE)
    report = json.loads(cli("codemod", RENAME, "--json", "--diff", tmp_path).out)
    assert "+    new_sleep(1)" in report["files"][0]["diff"]


def test_refusals_are_reported_and_summarised(tmp_path: Path, cli: CLI) -> None:
    path = write(tmp_path / "a.py", "def g(x):\n    old_sleep(1)\n    x.old_sleep(2)\n")
    result = cli("codemod", RENAME, tmp_path)
    assert result.code == 0
    assert path.read_text() == "def g(x):\n    new_sleep(1)\n    x.old_sleep(2)\n"
    assert f"{path}: refused: line 3: attribute access .old_sleep left unchanged" in result.err
    assert "1 changed, 1 refused" in result.err
    assert "1 x attribute access .old_sleep left unchanged" in result.err


# --- prefilter and parallelism ------------------------------------------------------------------


def test_prefilter_means_never_parsed(tmp_path: Path, cli: CLI) -> None:
    write(tmp_path / "broken.py", "def (:\n")  # no token: never parsed, so no failure
    result = cli("codemod", RENAME, tmp_path)
    assert result.code == 0
    assert "1 files seen, 0 parsed, 0 changed, 0 refused, 0 failed" in result.err
    unfiltered = cli("codemod", f"{SAMPLE}.NoPrefilterRenameCommand", tmp_path)
    assert unfiltered.code == 1
    assert "broken.py: failed: syntax error at line 1" in unfiltered.err


@pytest.mark.parametrize("jobs", ["1", "2"])
def test_jobs_give_the_same_result(tmp_path: Path, cli: CLI, jobs: str) -> None:
    for i in range(40):
        write(tmp_path / f"m{i:02d}.py", BEFORE if i % 3 == 0 else f"v = {i}\n")
    result = cli("codemod", RENAME, "--jobs", jobs, tmp_path)
    assert result.code == 0
    assert "40 files seen, 14 parsed, 14 changed" in result.err
    assert all(
        p.read_text() == (AFTER if int(p.stem[1:]) % 3 == 0 else f"v = {int(p.stem[1:])}\n")
        for p in tmp_path.glob("*.py")
    )
    lines = [line for line in result.err.splitlines() if line.endswith("rewritten")]
    assert lines == sorted(lines)


def test_jobs_must_be_positive(tmp_path: Path, cli: CLI) -> None:
    result = cli("codemod", RENAME, "--jobs", "0", tmp_path)
    assert result.code == 2
    assert "expected a positive integer, got '0'" in result.err


def test_worker_crash_fails_only_its_file(tmp_path: Path, cli: CLI) -> None:
    for i in range(60):
        write(tmp_path / f"m{i:02d}.py", BEFORE)
    doomed = [write(tmp_path / f"m{i:02d}.py", BEFORE + "die_here = 1\n") for i in (5, 41)]
    result = cli("codemod", f"{SAMPLE}.DieInWorkerCommand", "--jobs", "2", tmp_path)
    assert result.code == 1
    for path in doomed:
        assert f"{path}: failed: the worker process crashed on this file" in result.err
        assert path.read_text() == BEFORE + "die_here = 1\n"
    assert "60 files seen, 58 parsed, 58 changed, 0 refused, 2 failed" in result.err
    assert sum(p.read_text() == AFTER for p in tmp_path.glob("*.py")) == 58


# --- discovery -----------------------------------------------------------------------------


def test_gitignore_nested_and_negated(tmp_path: Path, cli: CLI) -> None:
    (tmp_path / ".git").mkdir()
    write(tmp_path / ".gitignore", "build/\n*_gen.py\n")
    write(tmp_path / "svc" / ".gitignore", "local_*.py\n!keep_gen.py\n")
    kept = [
        write(tmp_path / "svc" / "a.py", BEFORE),
        write(tmp_path / "svc" / "keep_gen.py", BEFORE),
    ]
    ignored = [
        write(tmp_path / "build" / "x.py", BEFORE),
        write(tmp_path / "svc" / "y_gen.py", BEFORE),
        write(tmp_path / "svc" / "local_z.py", BEFORE),
        write(tmp_path / ".venv" / "lib" / "v.py", BEFORE),
    ]
    result = cli("codemod", RENAME, tmp_path / "svc", tmp_path / "build")
    assert result.code == 0
    assert [p.read_text() for p in kept] == [AFTER, AFTER]
    assert [p.read_text() for p in ignored] == [BEFORE] * 4
    assert "2 changed" in result.err


def test_explicit_file_is_taken_even_if_ignored(tmp_path: Path, cli: CLI) -> None:
    write(tmp_path / ".gitignore", "*.py\n")
    path = write(tmp_path / "a.py", BEFORE)
    assert cli("codemod", RENAME, tmp_path).err.count("rewritten") == 0
    assert cli("codemod", RENAME, path).code == 0
    assert path.read_text() == AFTER


def test_exclude_patterns(tmp_path: Path, cli: CLI) -> None:
    keep = write(tmp_path / "src" / "a.py", BEFORE)
    skip1 = write(tmp_path / "tests" / "t.py", BEFORE)
    skip2 = write(tmp_path / "src" / "x_pb2.py", BEFORE)
    result = cli("codemod", RENAME, "--exclude", "tests/", "--exclude", "*_pb2.py", tmp_path)
    assert result.code == 0
    assert (keep.read_text(), skip1.read_text(), skip2.read_text()) == (AFTER, BEFORE, BEFORE)
    assert "2 ignored (.gitignore/--exclude)" in result.err


def test_generated_files_are_skipped(tmp_path: Path, cli: CLI) -> None:
    gen = write(tmp_path / "gen.py", "# @generated by protoc\n" + BEFORE)
    late = write(tmp_path / "late.py", "\n" * 20 + "# @generated\n" + BEFORE)
    result = cli("codemod", RENAME, tmp_path)
    assert gen.read_text() == "# @generated by protoc\n" + BEFORE
    assert late.read_text().endswith(AFTER)
    assert "1 skipped" in result.err
    assert "gen.py: skipped" not in result.err
    assert f"{gen}: skipped: generated file" in cli("codemod", RENAME, "-v", tmp_path).err


def test_same_file_twice_is_processed_once(tmp_path: Path, cli: CLI) -> None:
    path = write(tmp_path / "a.py", BEFORE)
    result = cli("codemod", RENAME, path, tmp_path)
    assert "1 files seen, 1 parsed, 1 changed" in result.err


def test_missing_path_is_a_usage_error(tmp_path: Path, cli: CLI) -> None:
    result = cli("codemod", RENAME, tmp_path / "nope")
    assert result.code == 2
    assert result.err.strip().endswith(f"no such file or directory: '{tmp_path / 'nope'}'")


# --- usage errors --------------------------------------------------------------------------


def test_unknown_codemod(tmp_path: Path, cli: CLI) -> None:
    result = cli("codemod", "rename-everything", tmp_path)
    assert result.code == 2
    assert "migrate codemod: error: unknown codemod 'rename-everything'; known:" in result.err
    assert len(result.err.strip().splitlines()) == 1


def test_dotted_path_that_is_not_a_codemod(tmp_path: Path, cli: CLI) -> None:
    result = cli("codemod", "os.path", tmp_path)
    assert result.code == 2
    assert "'os.path' is not a libcst Codemod class" in result.err
    assert "cannot import codemod 'nope.Nope'" in cli("codemod", "nope.Nope", tmp_path).err


def test_spec_and_preset_belong_to_their_codemod(tmp_path: Path, cli: CLI) -> None:
    spec = write(tmp_path / "spec.toml", "")
    result = cli("codemod", "shim-to-asyncio", "--spec", spec, tmp_path)
    assert result.code == 2
    assert "--spec only applies to legacy-to-shim" in result.err or "unknown codemod" in result.err
    result = cli("codemod", "legacy-to-shim", "--preset", "tornado", tmp_path)
    assert result.code == 2
    assert "--preset only applies to generators-to-async" in result.err or (
        "unknown codemod" in result.err
    )


def test_generator_hints_reach_generators_to_async(tmp_path: Path, cli: CLI) -> None:
    source = "import pytest as pt\n\n@pt.mark.run_loop\ndef test_x(redis):\n    yield from redis.ping()\n"
    target = tmp_path / "test_x.py"
    target.write_text(source)
    result = cli("codemod", "generators-to-async", "--preset", "asyncio", str(target))
    assert result.code == 0 and target.read_text() == source  # nothing says it is a coroutine
    result = cli(
        "codemod", "generators-to-async", "--preset", "asyncio",
        "--coroutine-decorator", "pytest.mark.run_loop", str(target),
    )  # fmt: skip
    assert result.code == 0, result.err
    assert target.read_text() == source.replace("def test_x", "async def test_x").replace(
        "yield from", "await"
    )


@pytest.mark.parametrize(
    "flag", [["--coroutine-decorator", "x.y"], ["--awaitable-returns", "check"]]
)
def test_generator_hints_only_apply_to_generators_to_async(
    tmp_path: Path, cli: CLI, flag: list[str]
) -> None:
    (tmp_path / "a.py").write_text("x = 1\n")
    result = cli("codemod", "legacy-to-shim", *flag, str(tmp_path / "a.py"))
    assert result.code == 2
    assert result.err.strip() == (
        f"migrate codemod: error: {flag[0]} only applies to generators-to-async, "
        "not 'legacy-to-shim'"
    )


def test_asyncio_async_is_respelled_when_the_file_converts(tmp_path: Path, cli: CLI) -> None:
    converts = tmp_path / "a.py"
    converts.write_text(
        "import asyncio\n\n\n@asyncio.coroutine\ndef f(x):\n    yield from asyncio.async(x)\n"
    )
    result = cli("codemod", "generators-to-async", "--preset", "asyncio", str(converts))
    assert result.code == 0, result.err
    assert converts.read_text() == (
        "import asyncio\n\n\nasync def f(x):\n    await asyncio.ensure_future(x)\n"
    )
    untouched = tmp_path / "b.py"
    untouched.write_bytes(b"import asyncio\n\nt = asyncio.async(x)\n")  # nothing to convert
    cli("codemod", "generators-to-async", "--preset", "asyncio", str(untouched))
    assert untouched.read_bytes() == b"import asyncio\n\nt = asyncio.async(x)\n"
