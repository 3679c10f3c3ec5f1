"""Both codemods over the repository's own code that uses the runtimes: no crash, output
compiles, a second run changes nothing, and a file without the runtime is returned as is."""

from __future__ import annotations

import warnings
from pathlib import Path

import libcst as cst
import pytest
from libcst.codemod import Codemod, CodemodContext

from codemods import LegacyToShimCommand, ShimToAsyncioCommand

ROOT = Path(__file__).resolve().parents[2]
FILES = sorted(
    p
    for top in ("examples", "tests/legacy", "tests/shims", "legacy", "shims")
    for p in (ROOT / top).rglob("*.py")
    if "_converted" not in p.parts
)


def _compiles(code: str) -> bool:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            compile(code, "<corpus>", "exec", dont_inherit=True)
    except SyntaxError:
        return False
    return True


@pytest.mark.parametrize("cls", [LegacyToShimCommand, ShimToAsyncioCommand])
def test_repository_code(cls: type[Codemod]) -> None:
    if not FILES:
        pytest.skip("no source files found next to the tests")
    changed = 0
    for path in FILES:
        try:
            source = path.read_text(encoding="utf-8")
            tree = cst.parse_module(source)
        except (OSError, UnicodeDecodeError, cst.ParserSyntaxError):
            continue  # a file another engineer is editing right now
        out = cls(CodemodContext(filename=str(path))).transform_module(tree)  # type: ignore[call-arg]
        if out is tree:
            assert out.code == source
            continue
        changed += 1
        if _compiles(source):
            assert _compiles(out.code), path
        again = cls(CodemodContext(filename=str(path))).transform_module(  # type: ignore[call-arg]
            cst.parse_module(out.code)
        )
        assert again.code == out.code, path
    assert changed > 0, "the corpus should contain code this codemod converts"
