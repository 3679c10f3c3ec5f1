"""What a codemod run hands its workers and gets back: ``Job``, ``Task``, ``FileResult``.

Kept apart from ``worker`` (which imports libcst) so the command line can
describe and report a run without importing the codemod machinery.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

__all__ = ["FileResult", "Job", "Task"]

#: One file to process: its path and options of its own, added to the job's.
Task = tuple[str, tuple[tuple[str, Any], ...]]


@dataclass(frozen=True)
class Job:
    """What to run: the command's name, its options, and what to do with a change."""

    command: str
    options: tuple[tuple[str, Any], ...] = ()
    mode: str = "write"  # "write" | "diff" | "check"


@dataclass
class FileResult:
    """What happened to one file.

    ``status`` is ``unchanged``, ``changed``, ``skipped`` or ``failed``;
    ``warnings`` are the codemod's refusals (constructs left unchanged).
    """

    path: str
    status: str
    reason: str = ""
    warnings: list[str] = field(default_factory=list)
    diff: str = ""
    parsed: bool = False
