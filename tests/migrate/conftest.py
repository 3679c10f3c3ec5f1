"""The ``cli`` fixture: run ``migrate.main(argv)`` in this process and capture its output."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from cli_support import HERE, Run


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
