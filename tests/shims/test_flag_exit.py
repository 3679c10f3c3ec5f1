"""A bad flag stops the process with one clear line, not a traceback, and is still a FlagError."""

from __future__ import annotations

import subprocess
import sys

import pytest

import shims

MAIN = "import shims\nasync def main():\n    return 1\nshims.run(main, service='pdf-export')\n"


def test_uncaught_flag_error_exits_with_one_line(tmp_path) -> None:
    env = {"MIGRATE_BACKEND_PDF_EXPORT": "asynco", "PATH": "/usr/bin:/bin"}
    proc = subprocess.run(
        [sys.executable, "-c", MAIN],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 1
    assert "Traceback" not in proc.stderr
    assert proc.stderr.strip().splitlines() == [
        "shims: environment MIGRATE_BACKEND_PDF_EXPORT: unknown backend 'asynco' "
        "(did you mean 'asyncio'?); valid backends: legacy, asyncio, uvloop, twisted"
    ]


def test_flag_error_is_still_catchable_as_the_contract_says() -> None:
    async def main() -> None:
        raise AssertionError("must not run")

    with pytest.raises(shims.FlagError, match="unknown backend 'nope'") as info:
        shims.run(main, backend="nope")
    assert isinstance(info.value, ValueError)
    assert isinstance(info.value, shims.ShimError)
