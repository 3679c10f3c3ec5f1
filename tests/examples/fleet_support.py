"""Helpers for the fleet tests: copy examples/fleet and convert it as a user would.

The conversion runs the ``migrate codemod`` CLI in a subprocess, the two
steps in order: ``legacy-to-shim`` then ``generators-to-async --preset
legacy`` (the same commands the README and ``migrate demo`` show).
"""

from __future__ import annotations

import asyncio
import json
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

FLEET = Path(__file__).resolve().parents[2] / "examples" / "fleet"
IGNORE = shutil.ignore_patterns("__pycache__", ".pytest_cache", "*.pyc")
STEPS = (["legacy-to-shim"], ["generators-to-async", "--preset", "legacy"])


@dataclass
class Conversion:
    """A converted copy of the fleet and what the codemods reported."""

    root: Path
    refused: list[str] = field(default_factory=list)
    changed: list[str] = field(default_factory=list)


def copy_fleet(dest: Path) -> Path:
    """Copy examples/fleet (without caches) to ``dest`` and return it."""
    shutil.copytree(FLEET, dest, ignore=IGNORE)
    return dest


def run_python(
    args: list[str], cwd: Path, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """Run ``python ARGS`` in ``cwd``; capture text output; 300 s at most."""
    return subprocess.run(
        [sys.executable, *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def migrate_codemod(root: Path, step: list[str], *extra: str) -> subprocess.CompletedProcess[str]:
    """Run ``migrate codemod STEP EXTRA... .`` in ``root``."""
    return run_python(["-m", "migrate", "codemod", *step, *extra, "."], root)


def convert(root: Path) -> Conversion:
    """Convert the fleet at ``root`` in place; raise AssertionError if a step failed."""
    result = Conversion(root)
    for step in STEPS:
        proc = migrate_codemod(root, step, "--json")
        assert proc.returncode == 0, (
            f"migrate codemod {step[0]} failed:\n{proc.stdout}{proc.stderr}"
        )
        report = json.loads(proc.stdout)
        for entry in report["files"]:
            if entry["status"] == "changed" and entry["path"] not in result.changed:
                result.changed.append(entry["path"])
            result.refused += [f"{entry['path']}: {w}" for w in entry.get("warnings", [])]
        if report["summary"]["refused"] and not result.refused:
            result.refused.append(f"{step[0]}: {report['summary']['refused']} refused")
    return result


class NaiveStreamConnection:
    """The pre-shim asyncio wrapper from the post-mortem: ``closed()`` is ``is_closing()``.

    The post-mortem tests hand it to the fleet's clients in place of a shim
    connection to show the incident the shim prevents.
    """

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer

    async def read_exactly(self, n: int, *, timeout: float | None = None) -> bytes:
        return await asyncio.wait_for(self.reader.readexactly(n), timeout)

    async def read_some(self, max_bytes: int = 65536, *, timeout: float | None = None) -> bytes:
        return await asyncio.wait_for(self.reader.read(max_bytes), timeout)

    async def write(self, data: bytes, *, timeout: float | None = None) -> None:
        self.writer.write(data)
        await asyncio.wait_for(self.writer.drain(), timeout)

    def closed(self) -> bool:
        return self.writer.is_closing()  # stays False after the peer's FIN

    def unread_bytes(self) -> int:
        return 0

    def close(self) -> None:
        self.writer.close()
