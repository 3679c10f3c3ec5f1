"""One way for the shim tests to run code in a process of its own (imports, fork, exit paths)."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from collections.abc import Sequence
from pathlib import Path


def python(
    *parts: str,
    cwd: Path | None = None,
    path: Sequence[Path] = (),
    timeout: float = 60,
    **env: str,
) -> subprocess.CompletedProcess[str]:
    """Run ``python -c`` on the dedented ``parts``, one after the other; capture text output.

    The child gets this process's environment without its ``MIGRATE_*`` variables (a
    flag set for the test run must not decide the child's backend), plus ``env``, with
    ``path`` ahead of ``PYTHONPATH``.
    """
    environ = {k: v for k, v in os.environ.items() if not k.startswith("MIGRATE_")}
    if path:
        environ["PYTHONPATH"] = os.pathsep.join(str(p) for p in path)
    environ.update(env)
    return subprocess.run(
        [sys.executable, "-c", "\n".join(textwrap.dedent(part) for part in parts)],
        cwd=cwd,
        env=environ,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
