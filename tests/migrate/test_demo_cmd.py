"""``migrate demo``: finds the fleet, runs the whole story in a scratch copy, leaves the original."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from pathlib import Path

import pytest
from cli_support import Run, run_subprocess

from migrate._commands.demo import find_fleet

CLI = Callable[..., Run]
REPO_FLEET = Path(__file__).resolve().parents[2] / "examples" / "fleet"


def tree_digest(root: Path) -> str:
    digest = hashlib.sha256()
    for path in [*sorted(root.rglob("*.py")), root / "pyproject.toml"]:
        if "__pycache__" not in path.parts:
            digest.update(str(path.relative_to(root)).encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()


def test_find_fleet_in_checkout(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MIGRATE_DEMO_FLEET", raising=False)
    assert find_fleet() == REPO_FLEET


def test_find_fleet_from_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "pyproject.toml").write_text("[tool.migrate]\n")
    monkeypatch.setenv("MIGRATE_DEMO_FLEET", str(tmp_path))
    assert find_fleet() == tmp_path


def test_bad_fleet_is_a_usage_error(tmp_path: Path, cli: CLI) -> None:
    result = cli("demo", "--fleet", tmp_path)
    assert result.code == 2
    assert result.err == (
        f"migrate demo: error: --fleet {str(tmp_path)!r} has no pyproject.toml; not a fleet\n"
    )


def test_existing_dir_is_refused(tmp_path: Path, cli: CLI) -> None:
    result = cli("demo", "--dir", tmp_path)
    assert result.code == 2
    assert "already exists" in result.err


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_demo_without_parity_keeps_scratch(tmp_path: Path) -> None:
    before = tree_digest(REPO_FLEET)
    scratch = tmp_path / "copy"
    result = run_subprocess("demo", "--skip-parity", "--dir", scratch, timeout=240)
    assert result.code == 0, result.out + result.err
    out = result.out
    for number in range(1, 8):
        assert f"== {number}/7 " in out
    assert "$ migrate codemod legacy-to-shim ." in out
    assert "$ migrate flags set pdf-export asyncio" in out
    assert "pdf-export: legacy -> asyncio in" in out
    assert "every step went as expected" in out
    assert tree_digest(REPO_FLEET) == before, "the demo touched the original fleet"
    # Every service is in the story, the http client and the websocket server included.
    for service in ("docs", "cache", "pdf-export", "realtime", "http"):
        assert f"\n    {service} " in out, service
    for module in ("cache/redis.py", "http/client.py", "realtime/websocket.py"):
        converted = (scratch / "fleet" / module).read_text()
        assert "legacy" not in converted, module
        assert "async def" in converted, module
    assert 'backend = "asyncio"' in (scratch / "pyproject.toml").read_text()


@pytest.mark.slow
@pytest.mark.timeout(360)  # the fleet's own tests run three times (real nginx, websockets)
def test_full_demo_cleans_up(tmp_path: Path) -> None:
    result = run_subprocess("demo", env={"TMPDIR": str(tmp_path)}, timeout=300)
    assert result.code == 0, result.out + result.err
    assert "$ migrate parity -q -p no:cacheprovider" in result.out
    assert "0 failing, 0 mismatched" in result.out
    assert list(tmp_path.iterdir()) == [], "scratch copy left behind"
