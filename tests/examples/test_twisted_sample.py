"""A Twisted service in @inlineCallbacks style converts completely and keeps its behaviour.

The sample (``twisted_sample/ledger``) runs on Twisted's reactor for the
reference recording; the two codemods (``generators-to-async --preset
twisted``, then ``legacy-to-shim --spec twisted``) must convert it with no
refusal and no Twisted name left; the converted code then runs under
``shims.run`` on every installed backend (``twisted`` included: the shim on
Twisted's reactor), and every recording must equal the reactor's.
"""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path
from typing import Any

import pytest
from fleet_support import run_python

import shims

SAMPLE = Path(__file__).parent / "twisted_sample"
STEPS = (
    ["generators-to-async", "--preset", "twisted"],
    ["legacy-to-shim", "--spec", "twisted"],
)


def _codemod(root: Path, step: list[str], *extra: str) -> Any:
    """Run ``migrate codemod`` over the service package (the run_*.py scripts are the harness)."""
    return run_python(["-m", "migrate", "codemod", *step, *extra, "ledger"], root)


def _backends() -> list[str]:
    return list(shims.backends.names())  # what is registered and installed here


def _recording(proc: Any) -> dict[str, Any]:
    assert proc.returncode == 0, proc.stdout + proc.stderr
    result: dict[str, Any] = json.loads(proc.stdout.strip().splitlines()[-1])
    return result


@pytest.fixture(scope="module")
def converted(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("twisted_sample") / "sample"
    shutil.copytree(SAMPLE, root, ignore=shutil.ignore_patterns("__pycache__"))
    for step in STEPS:
        proc = _codemod(root, step)
        assert proc.returncode == 0, proc.stderr
        assert "refused:" not in proc.stderr and " 0 refused" in proc.stderr, proc.stderr
    return root


def test_conversion_is_complete(converted: Path) -> None:
    source = (converted / "ledger" / "service.py").read_text()
    assert re.findall(r"\btwisted\b|\bdefer\b|\breactor\b|\byield\b", source) == []
    assert source.count("async def") == 5  # every @inlineCallbacks function
    compile(source, "service.py", "exec")


def test_check_after_the_run_is_clean(converted: Path) -> None:
    for step in STEPS:
        proc = _codemod(converted, step, "--check")
        assert proc.returncode == 0, proc.stderr
        assert " 0 would change" in proc.stderr, proc.stderr


def test_converted_sample_records_the_same_on_every_backend(converted: Path) -> None:
    reference = _recording(run_python(["run_twisted.py"], SAMPLE))
    assert reference["moved"] == [True, False, True, False]  # the scenario really ran
    recordings = {b: _recording(run_python(["run_shims.py", b], converted)) for b in _backends()}
    # every registered backend ran; twisted (the shim on Twisted's reactor)
    # comes with the test extra
    assert set(recordings) == set(shims.backends.names(available=False))
    assert "twisted" in recordings
    for key, expected in reference.items():
        seen = {backend: got[key] for backend, got in recordings.items()}
        assert all(v == expected for v in seen.values()), (
            f"recording {key!r} differs: twisted reactor (original) {expected!r}, converted {seen!r}"
        )
