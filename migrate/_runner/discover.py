"""Find the Python files a codemod run should look at.

Theory of operation: each PATH argument is either a file (always taken, as
the user named it, unless it is a symlink or not a regular file) or a
directory walked without following symlinks. During the walk a file or
directory is dropped when:

- its name is one of ``DEFAULT_EXCLUDED_DIRS`` (VCS data, virtualenvs, caches);
- git would ignore it: every ``.gitignore`` from the repository root (the
  nearest ancestor with ``.git``; without one, the PATH itself) down to its
  directory is consulted with gitignore semantics (pathspec's
  ``GitIgnoreSpec``), deeper files overriding shallower ones, plus
  ``.git/info/exclude``; an ignored directory is not entered, exactly as git
  cannot re-include a file below an excluded directory;
- it matches an ``--exclude`` pattern (also gitignore syntax, relative to
  the PATH argument).

Symlinks are never followed. A symlinked file is reported and skipped: when
its target is inside the tree the target is converted on its own (so a file
is never converted twice, and the link stays a link); when it points outside
the tree it is left alone. Symlinked directories are reported and not
entered.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pathspec

__all__ = ["DEFAULT_EXCLUDED_DIRS", "Discovery", "discover"]

DEFAULT_EXCLUDED_DIRS = frozenset(
    {
        ".git", ".hg", ".svn", ".venv", "venv", "__pycache__", "node_modules",
        ".tox", ".nox", ".mypy_cache", ".ruff_cache", ".pytest_cache",
    }
)  # fmt: skip


@dataclass
class Discovery:
    """The outcome of a walk: files to process, files skipped with a reason, ignored count."""

    files: list[Path] = field(default_factory=list)
    skipped: list[tuple[Path, str]] = field(default_factory=list)
    ignored: int = 0


class _Ignores:
    """Cached ``.gitignore`` specs, consulted from the repository root downward."""

    def __init__(self) -> None:
        self._specs: dict[Path, pathspec.GitIgnoreSpec | None] = {}

    def _spec(self, directory: Path) -> pathspec.GitIgnoreSpec | None:
        if directory not in self._specs:
            lines: list[str] = []
            sources = [directory / ".gitignore"]
            if (directory / ".git").is_dir():
                sources.append(directory / ".git" / "info" / "exclude")
            for source in sources:
                try:
                    lines += source.read_text(encoding="utf-8", errors="replace").splitlines()
                except OSError:
                    continue
            self._specs[directory] = pathspec.GitIgnoreSpec.from_lines(lines) if lines else None
        return self._specs[directory]

    def ignored(self, path: Path, *, is_dir: bool, root: Path) -> bool:
        """Return True when git would ignore ``path`` (``root`` is the repository root)."""
        verdict = False
        chain = [path.parent, *path.parent.parents]
        for directory in reversed(chain[: len(chain) - len(root.parents)]):
            spec = self._spec(directory)
            if spec is None:
                continue
            rel = path.relative_to(directory).as_posix() + ("/" if is_dir else "")
            include = spec.check_file(rel).include
            if include is not None:
                verdict = include
        return verdict


def _repo_root(start: Path) -> Path:
    for directory in (start, *start.parents):
        if (directory / ".git").exists():
            return directory
    return start


def _inside(target: Path, roots: Iterable[Path]) -> bool:
    return any(target == root or target.is_relative_to(root) for root in roots)


def discover(paths: Sequence[Path], *, excludes: Sequence[str] = ()) -> Discovery:
    """Walk ``paths`` and return the Python files to process (sorted, without duplicates)."""
    walker = _Walker([Path(os.path.abspath(p)).resolve() for p in paths], excludes)
    for given in paths:
        walker.add(Path(given))
    walker.found.files.sort()
    return walker.found


class _Walker:
    def __init__(self, real_roots: list[Path], excludes: Sequence[str]) -> None:
        self.found = Discovery()
        self.real_roots = real_roots
        self.exclude_spec = pathspec.GitIgnoreSpec.from_lines(excludes)
        self.ignores = _Ignores()
        self.seen: set[Path] = set()

    def add(self, given: Path) -> None:
        try:
            st = os.lstat(given)
        except OSError as exc:
            self.found.skipped.append((given, f"cannot access: {exc.strerror or exc}"))
            return
        if stat.S_ISLNK(st.st_mode):
            self.symlink(given, "file" if given.is_file() else "directory")
        elif stat.S_ISREG(st.st_mode):
            self.take(given)
        elif stat.S_ISDIR(st.st_mode):
            self.walk(given)
        else:
            self.found.skipped.append((given, "not a regular file"))

    def take(self, path: Path) -> None:
        key = path.resolve()
        if key not in self.seen:
            self.seen.add(key)
            self.found.files.append(path)

    def symlink(self, path: Path, what: str) -> None:
        target = path.resolve()
        if _inside(target, self.real_roots):
            reason = (
                f"{what} symlink; not followed (its target inside the tree is processed itself)"
            )
        else:
            reason = f"{what} symlink to {target} outside the tree; not followed"
        self.found.skipped.append((path, reason))

    def dropped(self, path: Path, *, root: Path, repo: Path, is_dir: bool) -> bool:
        rel = path.relative_to(root).as_posix() + ("/" if is_dir else "")
        if self.exclude_spec.check_file(rel).include or self.ignores.ignored(
            path, is_dir=is_dir, root=repo
        ):
            self.found.ignored += 1
            return True
        return False

    def walk(self, given: Path) -> None:
        root = Path(os.path.abspath(given))
        repo = _repo_root(root)
        for current, dirnames, filenames in os.walk(root):
            here = Path(current)
            shown = given / here.relative_to(root)
            keep = []
            for name in sorted(dirnames):
                full = here / name
                if name in DEFAULT_EXCLUDED_DIRS or self.dropped(
                    full, root=root, repo=repo, is_dir=True
                ):
                    continue
                if full.is_symlink():
                    self.symlink(shown / name, "directory")
                    continue
                keep.append(name)
            dirnames[:] = keep
            for name in sorted(filenames):
                if name.endswith(".py") and not self.dropped(
                    here / name, root=root, repo=repo, is_dir=False
                ):
                    self.add_file(shown / name)

    def add_file(self, path: Path) -> None:
        try:
            st = os.lstat(path)
        except OSError as exc:
            self.found.skipped.append((path, f"cannot access: {exc.strerror or exc}"))
            return
        if stat.S_ISLNK(st.st_mode):
            self.symlink(path, "file")
        elif stat.S_ISREG(st.st_mode):
            self.take(path)
        else:
            self.found.skipped.append((path, "not a regular file"))
