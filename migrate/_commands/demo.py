"""``migrate demo``: the whole migration story on the bundled sample fleet, in a scratch copy.

Theory of operation: the fleet (``examples/fleet``: five services on the
legacy runtime, with their tests and their ``[tool.migrate]`` flags) is
copied to a temporary directory, and every step runs the real ``migrate``
command there as a subprocess, echoing the command line first, so what the
demo shows is exactly what a user would type: scan, the two codemods (a diff
summary, then the rewrite), the lints, parity on every backend, a flag flip,
and the scan again. The original fleet is never touched. Environment
overrides (``MIGRATE_BACKEND*``, ``MIGRATE_CONFIG``) are dropped for the
steps so the scratch copy's own config decides.

The fleet is found, in order: ``--fleet``; ``MIGRATE_DEMO_FLEET``; a
``_fleet`` directory shipped inside the ``migrate`` package;
``<prefix>/share/migrate-toolkit/fleet`` (wheel data files);
``examples/fleet`` next to the installed source tree (editable installs and
checkouts); ``examples/fleet`` under the current directory.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

__all__ = ["add_parser", "find_fleet"]

STEPS = 7
CODEMODS = (("legacy-to-shim",), ("generators-to-async", "--preset", "legacy"))
FLIP = ("pdf-export", "asyncio")
_IGNORE = shutil.ignore_patterns("__pycache__", "*.pyc", ".pytest_cache", ".ruff_cache")


class DemoError(Exception):
    """The demo cannot start (no fleet found)."""


def add_parser(subparsers: Any) -> None:
    """Register ``migrate demo``."""
    parser = subparsers.add_parser(
        "demo",
        help="run the whole migration on the bundled sample fleet, in a scratch copy",
        description=(
            "Copy the sample fleet (five services on the legacy runtime) to a scratch "
            "directory and migrate it step by step with the real commands: scan, codemods, "
            "check, parity on every backend, a flag flip, scan again. Needs MariaDB, Redis "
            "and nginx for the fleet's tests to run rather than skip. Exit code 0 when every step did "
            "what it should."
        ),
    )
    parser.add_argument("--keep", action="store_true", help="keep the scratch copy afterwards")
    parser.add_argument(
        "--dir", type=Path, metavar="DIR", help="make the scratch copy here (must not exist)"
    )
    parser.add_argument("--fleet", type=Path, metavar="DIR", help="use this fleet instead")
    parser.add_argument(
        "--skip-parity", action="store_true", help="skip the parity step (the slow one)"
    )
    parser.set_defaults(func=_handle)


def find_fleet(given: Path | None = None) -> Path:
    """Return the sample fleet's directory.

    Raises:
        DemoError: none of the known places holds a fleet.
    """
    here = Path(__file__).resolve().parents[1]  # the migrate package
    if given is not None:
        if (given / "pyproject.toml").is_file():
            return given
        raise DemoError(f"--fleet {str(given)!r} has no pyproject.toml; not a fleet")
    candidates = [
        Path(os.environ["MIGRATE_DEMO_FLEET"]) if os.environ.get("MIGRATE_DEMO_FLEET") else None,
        here / "_fleet",
        Path(sys.prefix) / "share" / "migrate-toolkit" / "fleet",  # wheel data-files
        here.parent / "examples" / "fleet",
        Path.cwd() / "examples" / "fleet",
    ]
    for candidate in candidates:
        if candidate is not None and (candidate / "pyproject.toml").is_file():
            return candidate
    raise DemoError(
        "the sample fleet is not installed with this copy of migrate-toolkit; run the demo "
        "from a source checkout, or point MIGRATE_DEMO_FLEET at examples/fleet"
    )


class _Demo:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.problems: list[str] = []
        self.env = {
            k: v for k, v in os.environ.items()
            if not k.startswith("MIGRATE_BACKEND") and k not in ("MIGRATE_CONFIG", "PYTEST_ADDOPTS")
        }  # fmt: skip

    def step(self, number: int, title: str) -> None:
        print(f"\n== {number}/{STEPS} {title}", flush=True)

    def run(self, *argv: str, show: bool = True, ok: tuple[int, ...] = (0,)) -> str:
        print(f"$ migrate {' '.join(argv)}", flush=True)
        proc = subprocess.run(
            [sys.executable, "-m", "migrate", *argv], cwd=self.root, env=self.env,
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT if show else subprocess.PIPE,
            text=True, check=False,
        )  # fmt: skip
        if show:
            for line in proc.stdout.rstrip().splitlines():
                print(f"    {line}", flush=True)
        if proc.returncode not in ok:
            self.problems.append(f"'migrate {' '.join(argv)}' exited {proc.returncode}")
            if not show:
                print("    " + "\n    ".join((proc.stderr or "").strip().splitlines()[-10:]))
        return proc.stdout

    def codemod(self, step: tuple[str, ...]) -> None:
        report = self.run("codemod", *step, "--diff", "--json", ".", show=False)
        try:
            files = json.loads(report)["files"]
        except (ValueError, KeyError):
            return
        changed = [f for f in files if f.get("status") == "changed"]
        for entry in changed:
            diff = entry.get("diff", "").splitlines()
            plus = sum(1 for d in diff if d.startswith("+") and not d.startswith("+++"))
            minus = sum(1 for d in diff if d.startswith("-") and not d.startswith("---"))
            print(f"    {entry['path']:<36} +{plus:<3} -{minus}")
        if changed:
            sample = [ln for ln in changed[0]["diff"].splitlines() if ln[:1] in "+-@"][:12]
            print(f"    first lines of the diff of {changed[0]['path']}:")
            print("\n".join(f"      {line}" for line in sample))
        self.run("codemod", *step, ".")


def _handle(args: argparse.Namespace) -> int:
    try:
        fleet = find_fleet(args.fleet)
    except DemoError as exc:
        print(f"migrate demo: error: {exc}", file=sys.stderr)
        return 2
    if args.dir is not None:
        if args.dir.exists():
            print(f"migrate demo: error: --dir {str(args.dir)!r} already exists", file=sys.stderr)
            return 2
        root = args.dir
    else:
        root = Path(tempfile.mkdtemp(prefix="migrate-demo-")) / "fleet"
    shutil.copytree(fleet, root, ignore=_IGNORE)
    start = time.perf_counter()
    print("migrate demo: move a fleet of five services off the legacy runtime, step by step")
    print(f"  fleet:   {fleet} (left untouched)")
    print(f"  scratch: {root}" + ("" if args.keep or args.dir else " (removed at the end)"))
    demo = _Demo(root)
    try:
        _story(demo, skip_parity=args.skip_parity)
    finally:
        if not (args.keep or args.dir):
            shutil.rmtree(root.parent if args.dir is None else root, ignore_errors=True)
    print(f"\n== done in {time.perf_counter() - start:.0f} s")
    if demo.problems:
        print("steps that did not go as expected:\n  " + "\n  ".join(demo.problems))
        return 1
    print("every step went as expected. Next, on your own code: migrate scan, "
          "migrate codemod ... --diff, migrate flags set SERVICE asyncio --rollout 10")  # fmt: skip
    return 0


def _story(demo: _Demo, *, skip_parity: bool) -> None:
    demo.step(1, "Where the fleet stands: every service on legacy, legacy call sites everywhere")
    demo.run("scan", ".")
    demo.step(2, "Rewrite legacy.runtime calls to the shims API (legacy-to-shim)")
    demo.codemod(CODEMODS[0])
    demo.step(3, "Turn @runtime.coroutine generators into async def (generators-to-async)")
    demo.codemod(CODEMODS[1])
    demo.step(4, "Lint for migration hazards (is_closing() as liveness, blocking calls, ...)")
    demo.run("check", ".", ok=(0, 1))
    demo.step(5, "Prove parity: the fleet's own tests, once per backend, each in its own process")
    if skip_parity:
        print("    (skipped: --skip-parity)")
    else:
        demo.run("parity", "-q", "-p", "no:cacheprovider")
    demo.step(6, f"Flip one service: {FLIP[0]} goes to {FLIP[1]} (a config edit, no deploy)")
    demo.run("flags", "set", *FLIP)
    demo.run("flags")
    demo.step(7, "Where the fleet stands now")
    demo.run("scan", ".")
