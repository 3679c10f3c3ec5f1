"""The distribution ships what users run: the sample fleet for `migrate demo`."""

from __future__ import annotations

import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
FLEET = ROOT / "examples" / "fleet"
SKIP_PARTS = {"__pycache__", ".pytest_cache", ".ruff_cache"}


def test_every_fleet_file_is_installed_as_data() -> None:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())
    data_files = config["tool"]["setuptools"]["data-files"]
    prefix = "share/migrate-toolkit/fleet"
    shipped = {
        Path(target).relative_to(prefix) / match.name
        for target, patterns in data_files.items()
        for pattern in patterns
        for match in ROOT.glob(pattern)
    }
    for relative in shipped:  # each file lands where the fleet keeps it
        assert (FLEET / relative).is_file(), relative
    fleet_files = {
        path.relative_to(FLEET)
        for path in FLEET.rglob("*")
        if path.is_file() and not SKIP_PARTS.intersection(path.parts)
    }
    missing = sorted(str(p) for p in fleet_files - shipped)
    assert not missing, f"add these to [tool.setuptools.data-files] in pyproject.toml: {missing}"
