"""Small codemods the CLI tests drive by dotted path (``cli_sample_codemods.Class``).

They stand in for any user codemod and make the runner's edge cases
deterministic: a refusal, a crash, a result that does not compile, a file
edited during the run, a worker process that dies.
"""

from __future__ import annotations

import multiprocessing
import os
from pathlib import Path

import libcst as cst
from libcst.codemod import VisitorBasedCodemodCommand
from libcst.metadata import PositionProvider


class RenameCommand(VisitorBasedCodemodCommand):
    """Rename ``old_sleep`` to ``new_sleep``; refuse (warn, keep) ``x.old_sleep``."""

    DESCRIPTION = "Rename old_sleep to new_sleep."
    METADATA_DEPENDENCIES = (PositionProvider,)

    @classmethod
    def prefilter(cls, **options: object) -> tuple[bytes, ...]:
        return (b"old_sleep",)

    def visit_Attribute(self, node: cst.Attribute) -> bool:
        if node.attr.value == "old_sleep":
            line = self.get_metadata(PositionProvider, node).start.line
            self.warn(f"line {line}: attribute access .old_sleep left unchanged")
            return False
        return True

    def leave_Name(self, original_node: cst.Name, updated_node: cst.Name) -> cst.Name:
        if updated_node.value == "old_sleep":
            return updated_node.with_changes(value="new_sleep")
        return updated_node


class NoPrefilterRenameCommand(RenameCommand):
    """The same rename, without a prefilter: every file is parsed."""

    prefilter = None  # type: ignore[assignment]


class UnicodeRenameCommand(RenameCommand):
    """Rename ``old_sleep`` to ``nouveau_sommeil_é`` (not representable in ASCII)."""

    def leave_Name(self, original_node: cst.Name, updated_node: cst.Name) -> cst.Name:
        if updated_node.value == "old_sleep":
            return updated_node.with_changes(value="sommeil_\u00e9")
        return updated_node


class CrashCommand(RenameCommand):
    """Crash on a file that mentions ``crash_here``."""

    def visit_Module(self, node: cst.Module) -> bool:
        if "crash_here" in self.module.code:
            raise RuntimeError("boom in the codemod")
        return True


class AwaitOutsideAsyncCommand(RenameCommand):
    """Wrap ``old_sleep(...)`` calls in ``await``: output that does not compile in a def."""

    def leave_Call(self, original_node: cst.Call, updated_node: cst.Call) -> cst.BaseExpression:
        if isinstance(updated_node.func, cst.Name) and updated_node.func.value == "new_sleep":
            return cst.Await(expression=updated_node)
        return updated_node


class EditDuringRunCommand(RenameCommand):
    """Simulate a developer saving the file while the codemod runs on it."""

    def visit_Module(self, node: cst.Module) -> bool:
        path = Path(self.context.filename or "")
        if "edit_me" in path.name:
            path.write_text(path.read_text() + "# saved by someone else\n")
        return True


class DieInWorkerCommand(RenameCommand):
    """Kill the worker process on a file that mentions ``die_here`` (only in a worker)."""

    def visit_Module(self, node: cst.Module) -> bool:
        if "die_here" in self.module.code and multiprocessing.parent_process() is not None:
            os._exit(17)
        return True


class ExitCommand(RenameCommand):
    """Call ``sys.exit`` on a file that mentions ``exit_here``."""

    def visit_Module(self, node: cst.Module) -> bool:
        if "exit_here" in self.module.code:
            raise SystemExit(3)
        return True
