"""Run real asyncio-era projects' own suites before and after generators-to-async.

Theory of operation: for each project of ``projects.PROJECTS`` the sdist of
the pinned version is fetched from the package index with ``pip download``
(cached), unpacked twice, and one copy is converted in place with
``GeneratorsToAsyncCommand`` (the project's ``preset``, plus its
``coroutine_decorators``), file by file as ``migrate codemod`` does: a file
whose result would not compile is left as it was, a file with a refusal is
left byte-identical by the codemod itself. Nothing is edited by hand.
Every test file then runs in its own process with a time limit (suites of
that era can hang), the unconverted copy on the newest Python where it
still runs (``Project.before``), the converted one on 3.11+, each in a
cached virtual environment with the project's pinned test dependencies.
The verdict compares passed counts: a project fails when fewer tests pass
after conversion than before, or when a library module it ``must_convert``
was refused (its "after" suite would test the original code). A test file that passed fewer tests after
than before is run once more on both sides and counts its better run on
each (``retry_losses``): flaky tests of that era then count alike on both
sides, and a test the conversion broke still fails twice. ``blockers`` counts MIG006 findings of
``migrate check`` left in the converted tree (coroutine decorators that
break the import on new Pythons).
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import signal
import subprocess
import sys
import tarfile
import tempfile
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import libcst as cst
from libcst.codemod import CodemodContext

from codemods._generators.module import rename_asyncio_async
from codemods.generators_to_async import GeneratorsToAsyncCommand
from migrate import lint_source

from .projects import Project

__all__ = ["Outcome", "Side", "cache_dir", "find_python", "run_project"]


def cache_dir() -> Path:
    """Return where sdists and virtual environments are kept between runs."""
    default = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "migrate-realcode"
    path = Path(os.environ.get("MIGRATE_REALCODE_CACHE", default))
    path.mkdir(parents=True, exist_ok=True)
    return path


def find_python(version: str) -> Path | None:
    """Return an interpreter for ``version`` ("3.9"): pyenv's newest patch, else ``pythonX.Y``."""
    root = Path(os.environ.get("PYENV_ROOT", Path.home() / ".pyenv")) / "versions"
    found = sorted(
        root.glob(f"{version}.*/bin/python"),
        key=lambda p: [int(x) for x in re.findall(r"\d+", p.parent.parent.name)],
    )
    if found:
        return found[-1]
    which = shutil.which(f"python{version}")
    return Path(which) if which else None


def _run(cmd: Sequence[str | os.PathLike[str]], **kwargs: object) -> None:
    subprocess.run(list(map(str, cmd)), check=True, capture_output=True, **kwargs)  # type: ignore[call-overload]


def fetch(project: Project, cache: Path) -> Path:
    """Return the sdist of the pinned version, downloading it once."""
    where = cache / "sdists"
    where.mkdir(exist_ok=True)
    stem = f"{project.name}-{project.version}"
    found = [p for p in where.glob(f"{stem}.*") if p.suffix in (".gz", ".zip")]
    if not found:
        spec = f"{project.name}=={project.version}"
        _run([sys.executable, "-m", "pip", "download", "-q", "--no-deps", "--no-binary", ":all:",
              spec, "-d", where])  # fmt: skip
        found = [p for p in where.glob(f"{stem}.*") if p.suffix in (".gz", ".zip")]
    return found[0]


def unpack(sdist: Path, into: Path) -> Path:
    """Unpack ``sdist`` into ``into`` and return the project's root directory."""
    with tarfile.open(sdist) as archive:
        archive.extractall(into, filter="data")
    (root,) = [p for p in into.iterdir() if p.is_dir()]
    return root


def venv(project: Project, python: Path, cache: Path, *, before: bool = False) -> Path:
    """Return the interpreter of a cached virtual environment with the project's test deps."""
    deps = project.deps_before if before and project.deps_before is not None else project.deps
    key = hashlib.sha256(f"{python}|{' '.join(deps)}".encode()).hexdigest()[:12]
    home = cache / "venvs" / f"{project.name}-{key}"
    ready = home / ".ready"
    if not ready.exists():
        shutil.rmtree(home, ignore_errors=True)
        _run([python, "-m", "venv", home])
        if deps:
            # Only the package index: this machine's pip configuration points
            # at local wheel folders without the Requires-Python metadata an
            # old pip (3.6) needs to pick a compatible release.
            env = {k: v for k, v in os.environ.items() if not k.startswith("PIP_")}
            env["PIP_CONFIG_FILE"] = os.devnull
            pip = [home / "bin" / "python", "-m", "pip", "install", "-q"]
            _run([*pip, *deps], env=env)
        ready.touch()
    return home / "bin" / "python"


@dataclass
class Conversion:
    """What the codemod did to one tree."""

    changed: int = 0
    refused: list[str] = field(default_factory=list)  # "path:line: reason"
    blockers: int = 0
    changed_files: set[str] = field(default_factory=set)  # relative paths

    def not_converted(self, project: Project) -> list[str]:
        """Return the project's ``must_convert`` files left unchanged or with a refusal."""
        return [
            f
            for f in project.must_convert
            if f not in self.changed_files or any(r.startswith(f"{f}:") for r in self.refused)
        ]


def convert(root: Path, project: Project) -> Conversion:
    """Convert every ``.py`` file under ``root`` in place; return counts and refusals."""
    result = Conversion()
    for path in sorted(root.rglob("*.py")):
        original = path.read_text(encoding="utf-8")
        # ``asyncio.async`` (a syntax error since 3.7) is respelled before the parse.
        source = rename_asyncio_async(original)
        context = CodemodContext(filename=str(path))
        command = GeneratorsToAsyncCommand(
            context,
            preset=project.preset,
            coroutine_decorators=project.coroutine_decorators,
            awaitable_returns=project.awaitable_returns,
            keep_api=project.keep_api,
        )
        try:
            tree = cst.parse_module(source)
        except cst.ParserSyntaxError as exc:
            result.refused.append(f"{path.relative_to(root)}: cannot parse: {exc.message}")
            continue
        new = command.transform_module(tree)
        rel = path.relative_to(root)
        if new is tree:  # notes that come with a change are not refusals
            result.refused.extend(f"{rel}:{w.removeprefix('line ')}" for w in context.warnings)
        if new.code != original:
            path.write_text(new.code, encoding="utf-8")
            result.changed += 1
            result.changed_files.add(str(rel))
        text = new.code if new is not tree else source
        result.blockers += sum(f.code == "MIG006" for f in lint_source(text, str(rel)))
    return result


def find_test_files(root: Path, project: Project) -> list[str]:
    """Return the project's test files, relative to ``root``."""
    files: list[str] = []
    for entry in project.tests:
        path = root / entry
        candidates = [path] if path.is_file() else sorted(path.rglob("*.py"))
        for file in candidates:
            if file.name.startswith("test") or file.name.endswith("_test.py"):
                files.append(str(file.relative_to(root)))
    return files


_SUMMARY = re.compile(r"^=+ (.+ in [\d.]+ ?s(?:econds)?) =+$", re.MULTILINE)
_COUNTS = re.compile(r"(\d+) (passed|failed|errors?|skipped|xfailed|xpassed)")


@dataclass
class Side:
    """The result of one side (before or after) of one project."""

    python: str
    passed: int = 0
    failed: int = 0
    per_file: dict[str, tuple[int, int, str]] = field(default_factory=dict)  # (passed, bad, note)

    def record(self, file: str, passed: int, bad: int, note: str, *, best_of: bool = False) -> None:
        """Count one run of ``file``; with ``best_of``, keep it only if it passed more."""
        old = self.per_file.get(file)
        if old is not None:
            if best_of and passed <= old[0]:
                return
            self.passed -= old[0]
            self.failed -= old[1]
        self.passed += passed
        self.failed += bad
        self.per_file[file] = (passed, bad, note)


def run_file(python: Path, root: Path, file: str, project: Project) -> tuple[int, int, str]:
    """Run one test file in its own process group; return (passed, not passed, note)."""
    if project.runner in ("unittest", "trial"):
        module = file.removesuffix(".py").replace("/", ".")
        cmd = [str(python), "-m", "twisted.trial" if project.runner == "trial" else "unittest",
               module]  # fmt: skip
    else:
        cmd = [str(python), "-m", "pytest", "-v", "--assert=plain", "-p", "no:cacheprovider",
               "-W", "ignore::DeprecationWarning", f"--timeout={project.test_timeout}",
               file]  # fmt: skip
        for node, _why in project.deselect:
            if node.split("::", 1)[0] == file:
                cmd += ["--deselect", node]
    env = {**os.environ, **project.env, "PYTHONDONTWRITEBYTECODE": "1"}
    env.pop("PYTHONPATH", None)
    proc = subprocess.Popen(cmd, cwd=root, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, start_new_session=True)  # fmt: skip
    try:
        out, _ = proc.communicate(timeout=project.timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        out, _ = proc.communicate()
        # What finished before the hang still counts (pytest -v prints each result).
        passed = len(re.findall(r"^\S+ PASSED", out or "", re.MULTILINE))
        return passed, 1, f"timed out after {project.timeout} s ({passed} passed before)"
    tail = out.strip().splitlines()[-1] if out.strip() else ""
    if project.runner == "trial":  # PASSED (skips=1, successes=9) / FAILED (errors=1, ...)
        counts = {k: int(n) for k, n in re.findall(r"(\w+)=(\d+)", tail)}
        bad = counts.get("failures", 0) + counts.get("errors", 0)
        return counts.get("successes", 0), bad, tail
    if project.runner == "unittest":
        ran = re.search(r"Ran (\d+) test", out)
        bad = sum(int(n) for n in re.findall(r"(?:failures|errors)=(\d+)", out))
        total = int(ran.group(1)) if ran else 0
        return total - bad, bad, tail
    # The summary line, not the last line: an exception printed at interpreter
    # exit (a callback on a closed loop) may follow it.
    summaries = _SUMMARY.findall(out)
    if not summaries:
        passed = len(re.findall(r"^\S+ PASSED", out, re.MULTILINE))
        return passed, 1, f"no pytest summary ({passed} passed): {tail}"
    summary = summaries[-1]
    counts = {kind.rstrip("s"): int(n) for n, kind in _COUNTS.findall(summary)}
    bad = counts.get("failed", 0) + counts.get("error", 0)
    return counts.get("passed", 0), bad, summary


def run_side(python: Path, root: Path, files: list[str], project: Project, jobs: int) -> Side:
    """Run every test file of one copy of the project."""
    side = Side(python.name)
    with ThreadPoolExecutor(max_workers=jobs) as pool:
        results = list(pool.map(lambda f: run_file(python, root, f, project), files))
    for file, result in zip(files, results, strict=True):
        side.record(file, *result)
    return side


def retry_losses(
    project: Project, before: Side, after: Side, runs: tuple[tuple[Path, Path], tuple[Path, Path]]
) -> None:
    """Run each file that passed fewer tests after than before once more, on both sides.

    Suites of that era have timing-dependent tests (their before counts vary
    from run to run too). A retried file counts its better run on each side,
    so a flaky test counts alike before and after, and a test the conversion
    broke still fails twice. ``runs``: (python, root) before, then after.
    """
    for file, (after_passed, _, _) in list(after.per_file.items()):
        if after_passed >= before.per_file[file][0]:
            continue
        for side, (python, root) in zip((before, after), runs, strict=True):
            side.record(file, *run_file(python, root, file, project), best_of=True)


@dataclass
class Outcome:
    """One row of the table."""

    project: Project
    before: Side | None = None
    after: Side | None = None
    conversion: Conversion | None = None
    error: str = ""
    seconds: float = 0.0

    @property
    def not_converted(self) -> list[str]:
        """The project's ``must_convert`` files the conversion left as they were."""
        return self.conversion.not_converted(self.project) if self.conversion else []

    @property
    def ok(self) -> bool:
        """Tell whether the library converted and the conversion lost no passing test."""
        return (
            not self.error
            and not self.not_converted
            and self.before is not None
            and self.after is not None
            and self.after.passed >= self.before.passed
        )


def prepare_services(project: Project, python: Path) -> None:
    """Create the suite's own databases (never touching server-wide settings)."""
    if "mariadb" in project.services:
        host = os.environ.get("MIGRATE_MARIADB_HOST", project.env.get("MYSQL_HOST", "127.0.0.1"))
        port = os.environ.get("MIGRATE_MARIADB_PORT", "3306")
        names = [v for k, v in project.env.items() if k.endswith("_DB")]
        code = (
            "import pymysql, sys\n"
            "c = pymysql.connect(host=sys.argv[1], port=int(sys.argv[2]), user='root', password='')\n"
            "for n in sys.argv[3:]:\n"
            "    c.cursor().execute('CREATE DATABASE IF NOT EXISTS `%s`' % n)\n"
        )
        _run([python, "-c", code, host, port, *names])
    if "redis-server" in project.services and shutil.which("redis-server") is None:
        raise RuntimeError("redis-server is not installed (apt-get install redis-server)")


def run_project(project: Project, jobs: int, keep: Path | None = None) -> Outcome:
    """Fetch, convert and run one project; never raises for the project's own failures."""
    outcome = Outcome(project)
    start = time.monotonic()
    cache = cache_dir()
    work = Path(tempfile.mkdtemp(prefix=f"realcode-{project.name}-", dir=keep))
    try:
        before_py, after_py = find_python(project.before), find_python(project.after)
        if before_py is None or after_py is None:
            missing = project.before if before_py is None else project.after
            outcome.error = f"no Python {missing} here (pyenv install {missing})"
            return outcome
        sdist = fetch(project, cache)
        before_root = unpack(sdist, work / "before")
        after_root = unpack(sdist, work / "after")
        outcome.conversion = convert(after_root, project)
        before_env = venv(project, before_py, cache, before=True)
        after_env = venv(project, after_py, cache)
        prepare_services(project, before_env)
        files = find_test_files(before_root, project)
        outcome.before = run_side(before_env, before_root, files, project, jobs)
        outcome.after = run_side(after_env, after_root, files, project, jobs)
        retry_losses(
            project, outcome.before, outcome.after,
            ((before_env, before_root), (after_env, after_root)),
        )  # fmt: skip
    except (subprocess.CalledProcessError, OSError, RuntimeError, tarfile.TarError) as exc:
        detail = getattr(exc, "stderr", b"") or b""
        if isinstance(detail, bytes):
            detail = detail.decode(errors="replace")
        outcome.error = f"{type(exc).__name__}: {exc} {detail.strip()[-300:]}".strip()
    finally:
        outcome.seconds = time.monotonic() - start
        if keep is None:
            shutil.rmtree(work, ignore_errors=True)
    return outcome
