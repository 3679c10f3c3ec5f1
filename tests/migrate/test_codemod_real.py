"""``migrate codemod`` driving the shipped codemods by name, as a user runs them."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from cli_support import Run, run_subprocess

CLI = Callable[..., Run]

LEGACY = """\
from legacy import runtime


async def main():
    await runtime.sleep(0.1)
    await runtime.wait_all([a(), b()])


if __name__ == "__main__":
    runtime.run(main)
"""

GENERATOR = """\
from legacy import runtime


@runtime.coroutine
def fetch(conn):
    data = yield conn.read_some()
    return data
"""

COMPANY_SPEC = """\
[spec]
description = "acme.loop -> shims"
source = "acme.loop"
target = "shims"

[names]
nap = "sleep"
"""


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def test_legacy_to_shim_by_name(tmp_path: Path) -> None:
    path = write(tmp_path / "svc" / "main.py", LEGACY)
    untouched = write(tmp_path / "svc" / "util.py", "def helper():\n    return 1\n")
    result = run_subprocess("codemod", "legacy-to-shim", tmp_path)
    assert result.code == 0, result.err
    text = path.read_text()
    assert "await shims.sleep(0.1)" in text
    assert "await shims.gather(a(), b())" in text
    assert "shims.run(main)" in text
    assert "legacy" not in text
    compile(text, str(path), "exec")
    assert untouched.read_text() == "def helper():\n    return 1\n"
    assert "2 files seen, 1 parsed, 1 changed" in result.err


def test_generators_to_async_default_preset(tmp_path: Path, cli: CLI) -> None:
    path = write(tmp_path / "gen.py", GENERATOR)
    result = cli("codemod", "generators-to-async", "--diff", path)
    assert result.code == 0, result.err
    assert "+async def fetch(conn):" in result.out
    assert "+    data = await conn.read_some()" in result.out
    assert path.read_text() == GENERATOR


def test_generators_to_async_tornado_preset_skips_legacy_style(tmp_path: Path, cli: CLI) -> None:
    write(tmp_path / "gen.py", GENERATOR)
    result = cli("codemod", "generators-to-async", "--preset", "tornado", "--check", tmp_path)
    assert result.code == 0, result.err
    assert "0 would change" in result.err


def test_legacy_to_shim_with_company_spec(tmp_path: Path, cli: CLI) -> None:
    spec = write(tmp_path / "acme.toml", COMPANY_SPEC)
    path = write(
        tmp_path / "src" / "a.py",
        "from acme import loop\n\n\nasync def f():\n    await loop.nap(1)\n",
    )
    result = cli("codemod", "legacy-to-shim", "--spec", spec, tmp_path / "src")
    assert result.code == 0, result.err
    assert "await shims.sleep(1)" in path.read_text()


def test_bad_spec_is_a_usage_error(tmp_path: Path, cli: CLI) -> None:
    spec = write(tmp_path / "bad.toml", "[spec\n")
    write(tmp_path / "src" / "a.py", LEGACY)
    result = cli("codemod", "legacy-to-shim", "--spec", spec, tmp_path / "src")
    assert result.code == 2
    assert result.err.startswith("migrate codemod: error: cannot set up legacy-to-shim: ")
    assert len(result.err.splitlines()) == 1
    missing = cli("codemod", "legacy-to-shim", "--spec", tmp_path / "nope.toml", tmp_path)
    assert missing.code == 2
    assert "--spec" in missing.err and "is not a file" in missing.err


def test_shim_to_asyncio_check(tmp_path: Path, cli: CLI) -> None:
    path = write(tmp_path / "a.py", "import shims\n\n\nasync def f():\n    await shims.sleep(1)\n")
    result = cli("codemod", "shim-to-asyncio", "--check", path)
    assert result.code == 1
    assert f"{path}: would change" in result.err
    assert cli("codemod", "shim-to-asyncio", path).code == 0
    assert "await asyncio.sleep(1)" in path.read_text()
