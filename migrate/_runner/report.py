"""What a codemod run tells its user: per-file lines, a progress bar, the summary, JSON.

Per-file lines and the summary go to stderr (stdout carries only diffs or the
JSON report, so both can be piped). On a terminal, a run with many files to
parse shows a one-line progress bar that per-file lines are printed above.
"""

from __future__ import annotations

import json
import re
import sys
import time
from collections import Counter
from dataclasses import asdict, dataclass, field
from typing import TextIO

from .jobs import FileResult

__all__ = ["Progress", "RunReport"]

_LINE_PREFIX = re.compile(r"^line \d+:\s*")


class Progress:
    """A single-line progress bar on a terminal; does nothing elsewhere."""

    WIDTH = 30

    def __init__(self, total: int, *, stream: TextIO, enabled: bool, label: str) -> None:
        self.total = total
        self.done = 0
        self.stream = stream
        self.enabled = enabled and total > 0
        self.label = label
        self._last = 0.0

    def advance(self, count: int = 1) -> None:
        """Count ``count`` more files done and redraw at most ten times a second."""
        self.done += count
        now = time.monotonic()
        if self.enabled and (now - self._last > 0.1 or self.done >= self.total):
            self._last = now
            self._draw()

    def print(self, text: str) -> None:
        """Print one line above the bar."""
        if self.enabled:
            self.stream.write("\r\033[K")
        self.stream.write(text + "\n")
        if self.enabled:
            self._draw()
        self.stream.flush()

    def close(self) -> None:
        """Erase the bar."""
        if self.enabled:
            self.stream.write("\r\033[K")
            self.stream.flush()

    def _draw(self) -> None:
        filled = self.WIDTH * self.done // max(self.total, 1)
        bar = "#" * filled + "-" * (self.WIDTH - filled)
        self.stream.write(f"\r\033[K{self.label} [{bar}] {self.done}/{self.total} files")
        self.stream.flush()


@dataclass
class RunReport:
    """Counts and per-file outcomes of one run, printed as text or JSON."""

    codemod: str
    mode: str
    seen: int = 0
    ignored: int = 0
    results: list[FileResult] = field(default_factory=list)
    elapsed: float = 0.0

    def add(self, result: FileResult) -> None:
        """Record one file's outcome."""
        self.results.append(result)

    def count(self, status: str) -> int:
        """Return how many files ended with ``status``."""
        return sum(1 for r in self.results if r.status == status)

    @property
    def parsed(self) -> int:
        """Return how many files were parsed (the rest were ruled out by the prefilter)."""
        return sum(1 for r in self.results if r.parsed)

    @property
    def refused(self) -> int:
        """Return how many files had constructs the codemod refused to convert."""
        return sum(1 for r in self.results if any(not is_api_note(w) for w in r.warnings))

    def api_changes(self) -> list[str]:
        """Return ``path: line N: public API: ...`` for every public function whose return type changed."""
        return [f"{r.path}: {w}" for r in self.results for w in r.warnings if is_api_note(w)]

    def exit_code(self) -> int:
        """Return 1 when any file failed, or when ``--check`` found changes; else 0."""
        if self.count("failed") or (self.mode == "check" and self.count("changed")):
            return 1
        return 0

    def file_lines(self, result: FileResult, *, verbose: bool) -> list[str]:
        """Return the human lines for one file (possibly none)."""
        lines = []
        if result.status == "changed" and self.mode != "diff":
            lines.append(
                f"{result.path}: {'rewritten' if self.mode == 'write' else 'would change'}"
            )
        elif result.status == "failed":
            lines.append(f"{result.path}: failed: {result.reason}")
        elif result.status == "skipped" and (verbose or "generated" not in result.reason):
            lines.append(f"{result.path}: skipped: {result.reason}")
        lines += [
            f"{result.path}: {'' if is_api_note(warning) else 'refused: '}{warning}"
            for warning in result.warnings
        ]
        return lines

    def summary(self) -> str:
        """Return the closing summary: counts, then refusal reasons by frequency."""
        verb = "changed" if self.mode == "write" else "would change"
        text = (
            f"{self.codemod}: {self.seen} files seen, {self.parsed} parsed, "
            f"{self.count('changed')} {verb}, {self.refused} refused, "
            f"{self.count('failed')} failed, {self.count('skipped')} skipped"
        )
        if self.ignored:
            text += f", {self.ignored} ignored (.gitignore/--exclude)"
        text += f" in {self.elapsed:.1f} s"
        reasons = Counter(
            _LINE_PREFIX.sub("", warning)
            for r in self.results
            for warning in r.warnings
            if not is_api_note(warning)
        )
        if reasons:
            text += "\nrefused constructs (left unchanged):"
            for reason, n in reasons.most_common():
                text += f"\n  {n} x {reason}"
        changes = self.api_changes()
        if changes:
            text += "\npublic functions whose return type changed (a breaking change for callers):"
            text += "".join(f"\n  {line}" for line in changes)
        return text

    def to_json(self) -> str:
        """Return the machine-readable report (files listed unless plain unchanged)."""
        files = [
            {k: v for k, v in asdict(r).items() if v not in ("", [])}
            for r in self.results
            if r.status != "unchanged" or r.warnings
        ]
        payload = {
            "codemod": self.codemod,
            "mode": self.mode,
            "summary": {
                "seen": self.seen,
                "parsed": self.parsed,
                "changed": self.count("changed"),
                "unchanged": self.count("unchanged"),
                "refused": self.refused,
                "failed": self.count("failed"),
                "skipped": self.count("skipped"),
                "ignored": self.ignored,
                "seconds": round(self.elapsed, 3),
            },
            "exit_code": self.exit_code(),
            "api_changes": self.api_changes(),
            "files": files,
        }
        return json.dumps(payload, indent=2)


#: generators-to-async's note (not a refusal) for a converted public function
#: whose return type changed (``line N: public API: f() now returns ...``).
API_NOTE = "public API: "


def is_api_note(warning: str) -> bool:
    """Tell whether a codemod warning is a public-API note rather than a refusal."""
    return _LINE_PREFIX.sub("", warning).startswith(API_NOTE)


def stderr_is_terminal() -> bool:
    """Return True when stderr is an interactive terminal."""
    return sys.stderr.isatty()
