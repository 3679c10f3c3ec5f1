"""Run one codemod on one file, in whatever process it is handed to.

Theory of operation: ``Job`` names the command (a ``codemods.CODEMODS`` name
or a dotted ``module.Class`` path), its options and the mode (``write``,
``diff``, ``check``). ``init_worker`` builds it once per process;
``process_chunk`` handles a list of files and returns one ``FileResult`` per
file. Every failure is confined to its file and turned into a result with a
one-line reason: nothing a file contains can stop the run.

Per file: read bytes and stamp -> decode (coding cookie, BOM, NUL check) ->
``libcst.parse_module`` -> ``transform_module`` (warnings are refusals) ->
if the code changed: compile it with CPython (a result that does not parse or
compile is never written) -> encode back -> diff, or ``replace_atomically``
(which refuses if the file changed since it was read). A file's task may add
options of its own (legacy-to-shim's per-file ``service``) to the job's.

A command with a ``prepare_source(text)`` method (generators-to-async's:
``asyncio.async`` respelled, since it does not parse) gets the text first;
what it prepared is kept only when the transform changes the tree.

A command with a ``select_statements`` method (the rename engine's) is given
the file's top-level statements first, and only those it may need are
parsed; the others stand in as placeholders and come back byte for byte
(:mod:`.partial`). Anything unexpected falls back to the whole file.

Two costs of the whole-file path are cut without changing the result. The
cyclic garbage collector is paused while one file is processed: a parsed
tree is thousands of small acyclic objects, all alive until the file is
done, so every collection during the parse is wasted; freed trees go by
reference counting, and the collector resumes between files. libcst also
re-validates each node its parser builds (``CSTNode.__post_init__``), which
the parser's output passes by construction; ``_trusted_parse`` skips that for
the parse only, while nodes a codemod builds are still validated.
"""

from __future__ import annotations

import ast
import contextlib
import difflib
import gc
import importlib
import re
import warnings
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import libcst
from libcst._nodes.base import CSTNode
from libcst.codemod import Codemod, CodemodContext, SkipFile

from .jobs import FileResult, Job, Task
from .partial import reduce_source
from .source import SourceError, decode_source, encode_source, read_source, replace_atomically

__all__ = [
    "FileResult",
    "Job",
    "Task",
    "init_worker",
    "load_command",
    "process_chunk",
    "process_file",
]


def load_command(name: str) -> type[Codemod]:
    """Return the command class for a registry name or a dotted ``module.Class`` path.

    Raises:
        LookupError: no such codemod (the message lists the known names).
    """
    import codemods

    registry: Mapping[str, type[Codemod]] = codemods.CODEMODS
    if name in registry:
        try:
            return registry[name]
        except Exception as exc:  # the codemod's own module fails to import
            raise LookupError(
                f"codemod {name!r} is unavailable: {type(exc).__name__}: {exc}"
            ) from exc
    if "." in name:
        module_name, _, class_name = name.rpartition(".")
        try:
            found = getattr(importlib.import_module(module_name), class_name)
        except (ImportError, AttributeError) as exc:
            raise LookupError(f"cannot import codemod {name!r}: {exc}") from exc
        if isinstance(found, type) and issubclass(found, Codemod):
            return found
        raise LookupError(f"{name!r} is not a libcst Codemod class")
    known = ", ".join(sorted(registry))
    raise LookupError(
        f"unknown codemod {name!r}; known: {known} (or a dotted path to a libcst Codemod class)"
    )


_state: dict[str, Any] = {}


def init_worker(job: Job) -> None:
    """Prepare this process to run ``job`` (called once per worker process)."""
    _state["job"] = job
    _state["cls"] = load_command(job.command)


def process_chunk(tasks: Sequence[Task]) -> list[FileResult]:
    """Process each file of ``tasks``; a failure stays with its file."""
    return [process_file(path, extra) for path, extra in tasks]


def process_file(path: str, extra: tuple[tuple[str, Any], ...] = ()) -> FileResult:
    """Process one file according to the job set by ``init_worker``, plus ``extra`` options."""
    collecting = gc.isenabled()
    gc.disable()  # see the module docstring
    try:
        return _process(Path(path), _state["job"], _state["cls"], extra)
    except SourceError as exc:
        return FileResult(path, "failed", str(exc))
    except Exception as exc:  # per-file isolation: a codemod bug fails only this file
        return FileResult(path, "failed", f"codemod crashed: {type(exc).__name__}: {exc}")
    except SystemExit as exc:  # a codemod must not end the whole run
        return FileResult(path, "failed", f"codemod called sys.exit({exc.code!r})")
    finally:
        if collecting:
            gc.enable()


@contextlib.contextmanager
def _parser_output_trusted() -> Iterator[None]:
    """Skip libcst's per-node validation while the parser builds a tree (see the docstring)."""
    saved = CSTNode.__dict__["__post_init__"]
    CSTNode.__post_init__ = _no_validation  # type: ignore[method-assign]
    try:
        yield
    finally:
        CSTNode.__post_init__ = saved  # type: ignore[method-assign]


def _no_validation(self: CSTNode) -> None:
    """Stand in for ``CSTNode.__post_init__`` during a parse."""


def _trusted_parse(text: str) -> libcst.Module:
    """Return ``libcst.parse_module(text)``, without re-validating the parser's own nodes."""
    with _parser_output_trusted():
        return libcst.parse_module(text)


def _process(
    path: Path, job: Job, cls: type[Codemod], extra: tuple[tuple[str, Any], ...] = ()
) -> FileResult:
    original, stamp = read_source(path)
    decoded = decode_source(original)
    options = {**dict(job.options), **dict(extra)}
    try:
        new_text, notes = _transform(str(path), cls, options, decoded.text)
    except libcst.ParserSyntaxError as exc:
        return FileResult(str(path), "failed", _syntax_reason(decoded.text, exc), parsed=True)
    except SkipFile as exc:
        return FileResult(str(path), "skipped", f"codemod skipped it: {exc}", parsed=True)
    result = FileResult(str(path), "unchanged", parsed=True, warnings=notes)
    if new_text == decoded.text:
        return result
    problem = _compile_problem(new_text, str(path))
    if problem is not None:
        result.status = "failed"
        result.reason = f"result would not compile ({problem}); file left unchanged"
        return result
    new_bytes = encode_source(new_text, decoded)
    result.status = "changed"
    if job.mode == "diff":
        result.diff = _unified_diff(str(path), decoded.text, new_text)
    elif job.mode == "write":
        replace_atomically(path, new_bytes, original=original, stamp=stamp)
    return result


def _transform(
    filename: str, cls: type[Codemod], options: dict[str, Any], text: str
) -> tuple[str, list[str]]:
    """Return the new text and the codemod's warnings; parse only what it needs, if it says.

    Raises ParserSyntaxError when libcst cannot parse the file, and whatever
    the codemod raises (SkipFile included).
    """
    context = CodemodContext(filename=filename, full_module_name=None)
    command = cls(context, **options)
    select = getattr(command, "select_statements", None)
    reduced = reduce_source(text, select) if callable(select) else None
    if reduced is not None:
        try:
            new_text = reduced.restore(_apply(command, reduced.text))
        except libcst.ParserSyntaxError:
            new_text = None  # the whole file's parse reports it
        if new_text is not None:
            return new_text, list(context.warnings)
        context = CodemodContext(filename=filename, full_module_name=None)
        command = cls(context, **options)
    return _apply(command, text), list(context.warnings)


def _apply(command: Codemod, text: str) -> str:
    """Parse ``text`` (prepared, if the command says how), run ``command``; return the new code.

    An unchanged tree gives back ``text`` itself, not the prepared text.
    """
    prepare = getattr(command, "prepare_source", None)
    tree = _trusted_parse(prepare(text) if callable(prepare) else text)
    new_tree = command.transform_module(tree)
    return text if new_tree is tree else new_tree.code


def _syntax_reason(text: str, exc: libcst.ParserSyntaxError) -> str:
    """Prefer CPython's own message; say so when only libcst cannot parse the file."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            ast.parse(text)
        except SyntaxError as cpython:
            return f"syntax error at line {cpython.lineno}: {cpython.msg}"
        except (ValueError, RecursionError, MemoryError):
            pass
    detail = re.sub(r"^(parser error: )?(error at \d+:\d+: )?", "", exc.message)
    return f"libcst cannot parse it at line {exc.raw_line}, column {exc.raw_column}: {detail}"


def _compile_problem(text: str, filename: str) -> str | None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # e.g. invalid escape sequences the input already had
        try:
            compile(text, filename, "exec", dont_inherit=True)
        except SyntaxError as exc:
            return f"line {exc.lineno}: {exc.msg}"
        except (ValueError, RecursionError, MemoryError) as exc:
            return f"{type(exc).__name__}: {exc}"
    return None


def _unified_diff(path: str, old: str, new: str) -> str:
    lines = difflib.unified_diff(
        old.splitlines(keepends=True),
        new.splitlines(keepends=True),
        fromfile=f"a/{path}",
        tofile=f"b/{path}",
    )
    out = []
    for line in lines:
        out.append(line if line.endswith("\n") else line + "\n\\ No newline at end of file\n")
    return "".join(out)
