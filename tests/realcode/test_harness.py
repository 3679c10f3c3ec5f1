"""The real-code harness's own parts, offline: conversion of a tree, test discovery, counting."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from tests.realcode import harness
from tests.realcode.harness import convert, find_python, find_test_files, run_file
from tests.realcode.projects import PROJECTS, Project


def _write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")


def test_convert_rewrites_reports_refusals_and_counts_blockers(tmp_path: Path) -> None:
    _write(
        tmp_path / "pkg" / "ok.py",
        "import asyncio\n\n@asyncio.coroutine\ndef f():\n    yield from asyncio.sleep(0)\n",
    )
    refused = (
        "import asyncio\n\n@asyncio.coroutine\ndef g(cache, key):\n    return cache.get(key)\n"
    )
    _write(tmp_path / "pkg" / "refused.py", refused)
    _write(tmp_path / "pkg" / "old.py", "import asyncio\ntask = asyncio.async(x)\n")
    project = Project(name="demo", version="0", tests=())
    result = convert(tmp_path, project)
    assert (tmp_path / "pkg" / "ok.py").read_text() == (
        "import asyncio\n\nasync def f():\n    await asyncio.sleep(0)\n"
    )
    assert (tmp_path / "pkg" / "refused.py").read_text() == refused  # byte-identical
    assert (tmp_path / "pkg" / "old.py").read_text().endswith("asyncio.ensure_future(x)\n")
    assert result.changed == 2
    assert [r.split(":")[0] for r in result.refused] == ["pkg/refused.py"]
    assert result.blockers == 1  # the decorator left in refused.py (MIG006)


def test_test_files_and_counts_from_a_real_pytest_run(tmp_path: Path) -> None:
    _write(
        tmp_path / "tests" / "test_a.py",
        "def test_one():\n    pass\n\ndef test_two():\n    assert 0\n",
    )
    _write(tmp_path / "tests" / "helper.py", "X = 1\n")
    project = Project(name="demo", version="0", tests=("tests",))
    assert find_test_files(tmp_path, project) == ["tests/test_a.py"]
    passed, bad, note = run_file(Path(sys.executable), tmp_path, "tests/test_a.py", project)
    assert (passed, bad) == (1, 1), note


def test_every_project_is_pinned_and_runs_on_a_new_python_after() -> None:
    assert len(PROJECTS) >= 5
    for project in PROJECTS:
        assert project.version and all("==" in dep for dep in project.deps)
        assert tuple(map(int, project.after.split("."))) >= (3, 11)
        assert all(why for _, why in project.deselect)
    assert find_python("2.1") is None


def test_a_loss_is_retried_on_both_sides_and_a_real_loss_stays(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    before, after = harness.Side("before"), harness.Side("after")
    for file, b, a in (("flaky.py", 10, 9), ("broken.py", 5, 4), ("same.py", 3, 3)):
        before.record(file, b, 0, "")
        after.record(file, a, 10 - a if file == "flaky.py" else 5 - a, "")
    reruns = {  # (side root, file) -> the retry's result
        ("b", "flaky.py"): (9, 1, "flaky again"),  # worse than its first run: ignored
        ("a", "flaky.py"): (10, 0, "passes this time"),
        ("b", "broken.py"): (5, 0, ""),
        ("a", "broken.py"): (4, 1, "still broken"),
    }
    calls: list[tuple[str, str]] = []

    def fake_run_file(python: Path, root: Path, file: str, project: Project) -> object:
        calls.append((str(root), file))
        return reruns[str(root), file]

    monkeypatch.setattr(harness, "run_file", fake_run_file)
    project = next(iter(PROJECTS))
    runs = ((Path("py"), Path("b")), (Path("py"), Path("a")))
    harness.retry_losses(project, before, after, runs)
    assert sorted(calls) == sorted(reruns)  # same.py is not retried
    assert (before.passed, after.passed) == (18, 17)  # the flaky file counts 10 on both sides
    assert after.per_file["flaky.py"] == (10, 0, "passes this time")
    assert after.per_file["broken.py"][0] == 4


def test_a_library_module_that_must_convert_fails_the_project_when_refused(
    tmp_path: Path,
) -> None:
    lib = (
        "from twisted.internet import defer\n\n"
        "class P:\n"
        "    @decorated\n"
        "    @defer.inlineCallbacks\n"
        "    def connectionMade(self):\n"
        "        yield self.ready\n"
    )
    _write(tmp_path / "lib.py", lib)
    _write(
        tmp_path / "tests" / "test_lib.py",
        "from twisted.internet import defer\n\n@defer.inlineCallbacks\ndef _go(d):\n    yield d\n",
    )
    project = Project(
        name="demo", version="0", tests=("tests",), preset="twisted", must_convert=("lib.py",)
    )
    result = convert(tmp_path, project)
    assert (tmp_path / "lib.py").read_text() == lib  # refused: byte-identical
    assert result.changed_files == {"tests/test_lib.py"}
    assert result.not_converted(project) == ["lib.py"]
    side = harness.Side("py", passed=1)
    outcome = harness.Outcome(project, before=side, after=side, conversion=result)
    assert not outcome.ok  # the same counts, but the library was never converted

    _write(tmp_path / "lib.py", lib.replace("    @decorated\n", ""))
    result = convert(tmp_path, project)
    assert "async def connectionMade" in (tmp_path / "lib.py").read_text()
    assert result.not_converted(project) == []
    assert harness.Outcome(project, before=side, after=side, conversion=result).ok
