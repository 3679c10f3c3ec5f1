"""A process that ran the twisted backend can still construct libcst codemods.

Importing Twisted's reactor leaves zope.interface's class-provides descriptor
on ``abc.ABC``; libcst's matcher transformers read every name of ``dir(self)``
and failed with ``AttributeError: __provides__`` after a twisted run (the
test suite runs the backends and ``migrate codemod`` in one process).
"""

from __future__ import annotations

import subprocess
import sys

import pytest

PROBE = """
import shims
from libcst.codemod import CodemodContext, VisitorBasedCodemodCommand


async def main():
    await shims.sleep(0)
    return 1


assert shims.run(main, backend="twisted") == 1


class Rename(VisitorBasedCodemodCommand):
    DESCRIPTION = "probe"


Rename(CodemodContext())
print("ok")
"""


def test_libcst_codemods_construct_after_a_twisted_run() -> None:
    pytest.importorskip("twisted")
    done = subprocess.run(
        [sys.executable, "-c", PROBE], capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 0 and done.stdout.strip() == "ok", done.stderr[-2000:]
