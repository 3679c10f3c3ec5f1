"""The commands run under libcst's own CLI (``python -m libcst.tool codemod``)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

BEFORE = "from legacy import runtime\n\nasync def main():\n    await runtime.wait_all([a(), b()])\n    runtime.get_scheduler()\n"
AFTER = "from legacy import runtime\nimport shims\n\nasync def main():\n    await shims.gather(a(), b())\n    runtime.get_scheduler()\n"


def _tool(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "libcst.tool", "codemod", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_external_dotted_name(tmp_path: Path) -> None:
    target = tmp_path / "svc.py"
    target.write_text(BEFORE)
    done = _tool(
        tmp_path,
        "-x",
        "codemods.legacy_to_shim.LegacyToShimCommand",
        "--no-format",
        "-j",
        "1",
        str(target),
    )
    assert done.returncode == 0, done.stderr
    assert target.read_text() == AFTER
    assert "line 5: legacy.runtime.get_scheduler is not converted" in done.stderr


@pytest.mark.parametrize(
    ("command", "extra"),
    [
        ("legacy_to_shim.LegacyToShimCommand", []),
        ("shim_to_asyncio.ShimToAsyncioCommand", []),
    ],
)
def test_short_name_with_project_config(tmp_path: Path, command: str, extra: list[str]) -> None:
    (tmp_path / ".libcst.codemod.yaml").write_text("modules:\n- codemods\n")
    target = tmp_path / "svc.py"
    target.write_text(BEFORE if command.startswith("legacy") else "import shims\nshims.run(main)\n")
    done = _tool(tmp_path, command, "--no-format", "-j", "1", *extra, str(target))
    assert done.returncode == 0, done.stderr
    expected = AFTER if command.startswith("legacy") else "import asyncio\nasyncio.run(main())\n"
    assert target.read_text() == expected


def test_spec_argument_is_exposed(tmp_path: Path) -> None:
    spec = tmp_path / "acme.toml"
    spec.write_text('[spec]\nsource = "acme.core"\ntarget = "shims"\n[names]\nnap = "sleep"\n')
    target = tmp_path / "svc.py"
    target.write_text("from acme import core\ncore.nap(1)\n")
    done = _tool(
        tmp_path,
        "-x",
        "codemods.legacy_to_shim.LegacyToShimCommand",
        "--no-format",
        "-j",
        "1",
        "--spec",
        str(spec),
        str(target),
    )
    assert done.returncode == 0, done.stderr
    assert target.read_text() == "import shims\nshims.sleep(1)\n"


def test_service_argument_is_exposed(tmp_path: Path) -> None:
    target = tmp_path / "svc.py"
    target.write_text("from legacy import runtime\nruntime.run(main)\n")
    done = _tool(
        tmp_path,
        "-x",
        "codemods.legacy_to_shim.LegacyToShimCommand",
        "--no-format",
        "-j",
        "1",
        "--service",
        "pdf-export",
        str(target),
    )
    assert done.returncode == 0, done.stderr
    assert target.read_text() == 'import shims\nshims.run(main, service="pdf-export")\n'


ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize(
    "command",
    [
        "codemods.legacy_to_shim.LegacyToShimCommand",  # the documented, fully qualified form
        "legacy_to_shim.LegacyToShimCommand",  # the short form, via `modules: [codemods]`
    ],
)
def test_repository_config_resolves_names_without_x_or_black(command: str, tmp_path: Path) -> None:
    # Run from the repository, whose .libcst.codemod.yaml lists codemods._tool
    # and uses an identity formatter; the file being converted lives elsewhere.
    target = tmp_path / "svc.py"
    target.write_text(BEFORE)
    done = _tool(ROOT, command, "-j", "1", str(target))
    assert done.returncode == 0, done.stderr
    assert target.read_text() == AFTER
    assert "Failed to codemod 0 files" in done.stderr
