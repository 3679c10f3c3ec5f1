"""``migrate parity``: one pytest process per backend, the matrix, and the exit code."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest
from cli_support import Run, run_subprocess

import shims
from migrate._parity import BackendRun, build_matrix, row_key

CLI = Callable[..., Run]

INI = "[pytest]\nasyncio_mode = strict\nasyncio_default_fixture_loop_scope = function\n"

SUITE = """
import os
import pytest
import shims


def test_same_everywhere():
    assert 1 + 1 == 2


def test_sees_its_backend():
    assert os.environ["MIGRATE_BACKEND"] in shims.backends.names()
    assert "MIGRATE_BACKEND_DOCS" not in os.environ


@pytest.mark.parametrize("backend", ["legacy", "asyncio"])
def test_names_a_backend(backend):
    assert backend


@pytest.mark.skipif(os.environ["MIGRATE_BACKEND"] == "legacy", reason="not on legacy")
def test_skipped_on_legacy():
    pass
"""

DIFFERS = """
import os


def test_breaks_on_asyncio():
    assert os.environ["MIGRATE_BACKEND"] != "asyncio", "asyncio-specific bug"
"""


@pytest.fixture
def suite(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    (tmp_path / "pytest.ini").write_text(INI)
    (tmp_path / "test_suite.py").write_text(SUITE)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("MIGRATE_BACKEND_DOCS", "uvloop")
    return tmp_path


def test_row_key_lines_up_backend_params() -> None:
    assert row_key("t.py::test_a", "asyncio") == "t.py::test_a"
    assert row_key("t.py::test_a[asyncio]", "asyncio") == "t.py::test_a"
    assert row_key("t.py::test_a[asyncio-3]", "asyncio") == "t.py::test_a[3]"
    assert row_key("t.py::test_a[legacy]", "asyncio") is None
    assert row_key("t.py::test_a[x-y]", "legacy") == "t.py::test_a[x-y]"


def test_build_matrix_marks_missing() -> None:
    runs = [
        BackendRun("legacy", 0, {"t::a[legacy]": "passed", "t::b": "passed"}),
        BackendRun("asyncio", 1, {"t::a[asyncio]": "failed"}),
    ]
    assert build_matrix(runs) == {
        "t::a": {"legacy": "passed", "asyncio": "failed"},
        "t::b": {"legacy": "passed", "asyncio": "-"},
    }


def test_parity_all_same(suite: Path, cli: CLI) -> None:
    result = cli("parity", "--backends", "legacy,asyncio", "--", "-q", str(suite))
    assert result.code == 0, result.out + result.err
    lines = result.out.splitlines()
    assert lines[0].split() == ["TEST", "legacy", "asyncio"]
    rows = {line.split()[0]: line.split()[1:] for line in lines[1:] if "::" in line}
    assert rows == {
        "test_suite.py::test_names_a_backend": ["passed", "passed"],
        "test_suite.py::test_same_everywhere": ["passed", "passed"],
        "test_suite.py::test_sees_its_backend": ["passed", "passed"],
        "test_suite.py::test_skipped_on_legacy": ["skipped", "passed"],
    }
    assert "parity: 4 tests x 2 backends: 0 failing, 0 mismatched" in result.out


def test_parity_mismatch_fails(suite: Path, cli: CLI) -> None:
    (suite / "test_differs.py").write_text(DIFFERS)
    result = cli("parity", "--backends", "legacy,asyncio", "--json", "-q", "-p", "no:cacheprovider")
    assert result.code == 1
    data = json.loads(result.out)
    assert data["tests"]["test_differs.py::test_breaks_on_asyncio"] == {
        "legacy": "passed",
        "asyncio": "failed",
    }
    assert data["mismatches"] == ["test_differs.py::test_breaks_on_asyncio"]
    assert data["failures"] == ["test_differs.py::test_breaks_on_asyncio"]
    assert data["runs"]["asyncio"]["exitstatus"] == 1


def test_parity_text_marks_mismatch_and_shows_output(suite: Path, cli: CLI) -> None:
    (suite / "test_differs.py").write_text(DIFFERS)
    result = cli("parity", "--backends", "asyncio,legacy", str(suite / "test_differs.py"))
    assert result.code == 1
    row = next(line for line in result.out.splitlines() if "test_breaks_on_asyncio" in line)
    assert row.split() == ["test_differs.py::test_breaks_on_asyncio", "FAILED", "passed", "<-",
                           "mismatch"]  # fmt: skip
    assert "asyncio-specific bug" in result.out
    assert "1 failing, 1 mismatched" in result.out


def test_parity_no_tests_is_a_failure(suite: Path, cli: CLI) -> None:
    result = cli("parity", "--backends", "legacy", "-k", "nothing_matches_this")
    assert result.code == 1
    assert "no tests ran" in result.out


def test_parity_bad_backends(suite: Path, cli: CLI) -> None:
    result = cli("parity", "--backends", "legacy,gevent")
    assert result.code == 2
    assert result.err == (
        "migrate: error: --backends 'legacy,gevent': unknown backend 'gevent'; "
        "valid backends: legacy, asyncio, uvloop, twisted\n"
    )


def test_parity_pytest_usage_error(suite: Path, cli: CLI) -> None:
    result = cli("parity", "--backends", "legacy", "--no-such-pytest-option")
    assert result.code == 2
    assert "migrate parity: error: pytest could not run on legacy (exit status 4)" in result.err


def test_parity_subprocess_default_backends(suite: Path) -> None:
    env = {"MIGRATE_BACKEND_DOCS": "uvloop"}
    result = run_subprocess("parity", "-q", cwd=suite, env=env)
    assert result.code == 0, result.out + result.err
    header = result.out.splitlines()[0].split()
    assert header == ["TEST", *shims._registry.parity_defaults()]
    assert "Traceback" not in result.err


RECORDING = """
import pytest
import shims


@pytest.mark.parity
async def test_records_equal(parity):
    await shims.sleep(0)
    parity.record("answer", 42)


@pytest.mark.parity
async def test_records_backend(parity):
    await shims.sleep(0)
    parity.record("loop", shims.current_backend() == "asyncio")
"""


def test_parity_compares_recordings_across_processes(suite: Path, cli: CLI) -> None:
    (suite / "test_recording.py").write_text(RECORDING)
    result = cli(
        "parity", "--backends", "legacy,asyncio", "--json", str(suite / "test_recording.py")
    )
    assert result.code == 1, result.out + result.err
    data = json.loads(result.out)
    assert data["tests"] == {
        "test_recording.py::test_records_backend": {"legacy": "passed", "asyncio": "passed"},
        "test_recording.py::test_records_equal": {"legacy": "passed", "asyncio": "passed"},
    }
    assert data["failures"] == []
    assert data["mismatches"] == ["test_recording.py::test_records_backend"]
    assert data["recording_mismatches"] == {
        "test_recording.py::test_records_backend": [
            "recorded 'loop' differs: legacy=False, asyncio=True"
        ]
    }
    text = cli("parity", "--backends", "legacy,asyncio", str(suite / "test_recording.py"))
    assert text.code == 1
    assert (
        "test_recording.py::test_records_backend: recorded 'loop' differs: legacy=False, "
        "asyncio=True" in text.out
    )


def test_parity_without_pytest_says_how_to_install_it(
    cli: CLI, monkeypatch: pytest.MonkeyPatch
) -> None:
    import importlib.util

    real_find_spec = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util,
        "find_spec",
        lambda name, *a: None if name == "pytest" else real_find_spec(name, *a),
    )
    result = cli("parity", "--backends", "asyncio")
    assert result.code == 2
    assert result.err.count("\n") == 1
    assert "pytest is not installed" in result.err
    assert "pip install 'migrate-toolkit[test]'" in result.err
