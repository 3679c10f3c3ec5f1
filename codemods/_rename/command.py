"""The spec-driven rename/reshape engine shared by legacy-to-shim and shim-to-asyncio.

Theory of operation: ``transform_module`` (1) scans the tree once
(:mod:`._scan`), (2) plans: resolves every recorded reference to the import
that binds it, decides convert / keep / refuse per reference, picks local
names and the import edits, and records a replacement per changed node plus
the ids of its ancestors, (3) rewrites with a libcst transformer that only
descends into those ancestors, so unchanged subtrees are neither visited nor
copied, and (4) regenerates the code and compiles it; a result that does not
compile is discarded and reported. Nothing uses libcst metadata providers,
and the defensive deep copy libcst makes for metadata is skipped because no
metadata is computed (positions are resolved lazily, only for warnings).
"""

from __future__ import annotations
import __future__

import argparse
import dataclasses
import functools
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import ClassVar

import libcst as cst
from libcst.codemod import Codemod, CodemodContext, VisitorBasedCodemodCommand
from libcst.metadata import MetadataWrapper, PositionProvider

from .guards import attribute_names, guard_attributes
from .plan import ModulePlanner
from .relevant import Chunk, select_statements
from .scan import Scanner
from .spec import Spec, SpecError, load_spec

SPECS_DIR = Path(__file__).parents[1] / "specs"
Replacement = Callable[
    [cst.CSTNode], cst.CSTNode | cst.RemovalSentinel | cst.FlattenSentinel[cst.CSTNode]
]


def bundled_specs() -> list[str]:
    """Return the names ``--spec`` accepts for the specs shipped in ``codemods/specs``."""
    return sorted(p.stem for p in SPECS_DIR.glob("*.toml"))


def spec_path(spec: str | Path | None, default: str) -> str:
    """Return the file for ``spec``: a path as given, or a bundled spec's file by name.

    Raises SpecError when ``spec`` is a bare name that is neither an
    existing file nor a bundled spec.
    """
    if not spec:
        return str(SPECS_DIR / default)
    text = str(spec)
    if Path(text).exists() or "/" in text or "\\" in text or text.endswith(".toml"):
        return text
    if text in bundled_specs():
        return str(SPECS_DIR / f"{text}.toml")
    raise SpecError(
        f"--spec {text!r} is neither a spec file nor a bundled spec; "
        f"bundled specs: {', '.join(bundled_specs())}"
    )


@functools.lru_cache(maxsize=32)
def _cached_spec(path: str) -> Spec:
    return load_spec(path)


class SpecRenameCommand(VisitorBasedCodemodCommand):
    """Base class: rename and reshape the source module's API as a spec says.

    Subclasses set ``DEFAULT_SPEC`` (a file in ``codemods/specs``).
    """

    DEFAULT_SPEC: ClassVar[str] = ""
    DESCRIPTION: str = "Rename a module's API as a TOML spec says."

    @staticmethod
    def add_args(arg_parser: argparse.ArgumentParser) -> None:
        """Add ``--spec PATH`` (default: the bundled spec)."""
        arg_parser.add_argument(
            "--spec",
            dest="spec",
            default=None,
            metavar="PATH",
            help="TOML spec describing the API mapping (default: the bundled spec)",
        )

    def __init__(self, context: CodemodContext, spec: str | Path | None = None) -> None:
        """Load the spec (cached per path); raises SpecError if it is invalid.

        libcst's matcher set-up (which introspects every method, about as costly
        as parsing a small file, once per file) is skipped: this class drives
        the traversal through ``on_visit``/``on_leave`` and uses no matcher
        decorators.
        """
        Codemod.__init__(self, context)
        cst.CSTTransformer.__init__(self)
        self._extra_visit_funcs = {}
        self._extra_leave_funcs = {}
        self._matchers = {}
        self.spec: Spec = type(self).load(spec)
        self.service: str | None = None  # see LegacyToShimCommand
        self._replace: dict[int, Replacement] = {}
        self._ancestors: set[int] = set()

    @classmethod
    def load(cls, spec: str | Path | None = None) -> Spec:
        """Return the validated spec ``spec`` or the bundled default; raises SpecError.

        ``spec`` is a path, or the name of a bundled spec (``twisted``).
        """
        return _cached_spec(spec_path(spec, cls.DEFAULT_SPEC))

    @classmethod
    def prefilter(cls, **options: object) -> tuple[bytes, ...]:
        """Return byte strings one of which every file this command could change contains.

        Every import form of ``a.b`` spells its top package ``a``.
        """
        spec = options.get("spec")
        loaded = cls.load(spec if isinstance(spec, str | Path) else None)
        return (loaded.source.split(".")[0].encode(),)

    def select_statements(self, chunks: Sequence[Chunk]) -> list[bool] | None:
        """Return, per chunk of top-level statements, whether this rewrite can need it.

        ``chunks`` are ``(source text, ast statements)`` in file order. A
        runner may parse the chunks marked False as placeholders instead
        (see :mod:`codemods._rename.relevant` for why that cannot change the
        result). None, meaning every statement, when a subclass changes how
        the tree is transformed.
        """
        base = SpecRenameCommand
        cls = type(self)
        if any(
            getattr(cls, name) is not getattr(base, name)
            for name in ("transform_module", "transform_module_impl", "on_visit", "on_leave")
        ):
            return None
        return select_statements(self.spec, chunks)

    # -- libcst entry points ---------------------------------------------------

    def transform_module(self, tree: cst.Module) -> cst.Module:
        """Rewrite ``tree``; unchanged input comes back as the very same object."""
        # No metadata dependencies, so libcst's defensive deep copy (which alone
        # costs more than the parse) is not needed; the wrapper only serves self.module.
        old = self.context
        self.context = dataclasses.replace(
            self.context, wrapper=MetadataWrapper(tree, unsafe_skip_copy=True)
        )
        try:
            return self.transform_module_impl(tree)
        finally:
            self.context = dataclasses.replace(self.context, wrapper=old.wrapper)

    def transform_module_impl(self, tree: cst.Module) -> cst.Module:
        """Scan, plan, rewrite and verify; see the module docstring."""
        scan = Scanner(self.spec.source).scan(tree)
        if not scan.bindings and not scan.stars:
            return tree
        attributes = attribute_names(tree, guard_attributes(self.spec))
        planner = ModulePlanner(self.spec, scan, self.service, attributes)
        planner.plan()
        result = tree
        notes = list(planner.warnings)
        if planner.replace:
            self._replace, self._ancestors = planner.replace, planner.ancestors
            try:
                result = tree.visit(self)
            finally:
                self._replace, self._ancestors = {}, set()
            problem = _compile_error(tree, result, self.context.filename or "<codemod>")
            if problem is not None:
                notes = [
                    (
                        tree,
                        f"the rewritten file would not compile ({problem}); file left unchanged",
                    ),
                    *notes,
                ]
                result = tree
        if notes:
            self._report(tree, notes)
        return result

    def on_visit(self, node: cst.CSTNode) -> bool:
        """Descend only into ancestors of a node that changes."""
        return id(node) in self._ancestors

    def on_leave(  # type: ignore[override]
        self, original_node: cst.CSTNode, updated_node: cst.CSTNode
    ) -> cst.CSTNode | cst.RemovalSentinel | cst.FlattenSentinel[cst.CSTNode]:
        """Apply the planned replacement of ``original_node``, if any."""
        build = self._replace.get(id(original_node))
        return build(updated_node) if build is not None else updated_node

    def on_visit_attribute(self, node: cst.CSTNode, attribute: str) -> None:
        """Do nothing: no per-attribute hooks."""

    def on_leave_attribute(self, original_node: cst.CSTNode, attribute: str) -> None:
        """Do nothing: no per-attribute hooks."""

    # -- helpers -------------------------------------------------------------------

    def _report(self, tree: cst.Module, notes: list[tuple[cst.CSTNode, str]]) -> None:
        positions = MetadataWrapper(tree, unsafe_skip_copy=True).resolve(PositionProvider)
        seen: set[tuple[int, str]] = set()
        lines = []
        for node, text in notes:
            pos = positions.get(node)
            line = pos.start.line if pos is not None else 1
            if (line, text) not in seen:
                seen.add((line, text))
                lines.append((line, text))
        for line, text in sorted(lines):
            self.warn(f"line {line}: {text}")


def _compile_error(before: cst.Module, after: cst.Module, filename: str) -> str | None:
    """Return why ``after`` does not compile, or None if it does.

    Only the top-level statements that changed are generated and compiled
    (with the module's ``__future__`` flags): Python's compile errors are
    local to a top-level statement, and the others are byte-for-byte the
    input's, so this costs a fraction of regenerating the whole file.
    """
    kept = {id(stmt) for stmt in before.body}
    flags = _future_flags(after)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            for stmt in after.body:
                if id(stmt) not in kept:
                    code = after.code_for_node(stmt)
                    compile(code, filename, "exec", flags=flags, dont_inherit=True)
    except (SyntaxError, ValueError) as exc:
        return f"{type(exc).__name__}: {getattr(exc, 'msg', exc)}"
    return None


def _future_flags(module: cst.Module) -> int:
    flags = 0
    for stmt in module.body:
        if not isinstance(stmt, cst.SimpleStatementLine):
            break
        for small in stmt.body:
            if (
                isinstance(small, cst.ImportFrom)
                and isinstance(small.module, cst.Name)
                and small.module.value == "__future__"
                and isinstance(small.names, Sequence)
            ):
                for alias in small.names:
                    feature = getattr(__future__, str(alias.name.value), None)
                    flags |= getattr(feature, "compiler_flag", 0)
    return flags
