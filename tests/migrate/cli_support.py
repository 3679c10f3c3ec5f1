"""Helpers for the CLI tests: run ``migrate`` as a real subprocess; the result type."""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).parent
SAMPLE = "cli_sample_codemods"


@dataclass
class Run:
    code: int
    out: str
    err: str


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
