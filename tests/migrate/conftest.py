"""Helpers for the CLI tests: run ``migrate`` in-process or as a real subprocess."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

HERE = Path(__file__).parent
SAMPLE = "cli_sample_codemods"


@dataclass
class Run:
    code: int
    out: str
    err: str


@pytest.fixture
def cli(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> Callable[..., Run]:
    """Run ``migrate.main(argv)`` in this process and capture its output."""
    from migrate import main

    monkeypatch.syspath_prepend(str(HERE))

    def run(*argv: str | Path) -> Run:
        capsys.readouterr()
        code = main([str(a) for a in argv])
        captured = capsys.readouterr()
        return Run(code, captured.out, captured.err)

    return run


def run_subprocess(
    *argv: str | Path,
    cwd: Path | None = None,
    env: dict[str, str] | None = None,
    timeout: float = 120.0,
) -> Run:
    """Run ``python -m migrate`` as a real process (console-script behaviour)."""
    full_env = dict(os.environ)
    full_env["PYTHONPATH"] = os.pathsep.join(
        [str(HERE), *filter(None, [full_env.get("PYTHONPATH")])]
    )
    full_env.update(env or {})
    proc = subprocess.run(
        [sys.executable, "-m", "migrate", *map(str, argv)],
        cwd=cwd, env=full_env, capture_output=True, text=True, timeout=timeout, check=False,
    )  # fmt: skip
    return Run(proc.returncode, proc.stdout, proc.stderr)
