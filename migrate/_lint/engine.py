"""The lint engine behind ``migrate check`` and ``migrate scan``.

Theory of operation: a file is parsed once with libcst and walked once by
``_Linter``, a read-only walk (not libcst's node-rebuilding visitor). No
metadata provider runs on that walk: imports are tracked by hand (``import
a.b as c``, ``from a import b as c``, imports inside functions), so every
dotted name resolves to a qualified name alias-aware and cheaply. The walk records findings as *nodes*; only when a
file has at least one finding are positions computed, with one
``PositionProvider`` pass over the same tree (``unsafe_skip_copy`` keeps node
identity). A file that cannot mention anything a rule looks for is not parsed
by libcst at all, only syntax-checked with the much faster ``ast``. The walk
itself and the import tracking live in ``tree``; the rule tables and
messages in ``rules``.

Rules decide from one statement or call at a time, plus a little state per
scope: whether the innermost function is a coroutine (``async def`` or a
``@runtime.coroutine``-style generator; a nested plain ``def``, ``lambda`` or
class body is not); which names hold blocking objects (``sock.recv()`` is
reported only for a socket made by ``socket.socket()`` and friends and never
set non-blocking in that scope; likewise ``requests.Session()`` methods);
which local names shadow an import (parameters, plain assignments); and
whether an ``async with asyncio.timeout(...)`` deadline is in force.
"""

from __future__ import annotations

import ast
import io
import re
import tokenize
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field

import libcst as cst
from libcst.helpers import get_full_name_for_node
from libcst.metadata import MetadataWrapper, PositionProvider

from .legacy import (
    DECORATOR_WORDS,
    GENERATOR_DECORATORS,
    HAND_WORK_WORDS,
    coroutine_left_message,
    count_hand_work,
)
from .rules import (
    BLOCKING_CALLS,
    BLOCKING_METHODS,
    HTTP_SESSION_MAKERS,
    LEGACY,
    LOOP_GETTERS,
    OBJECT_METHODS,
    SOCKET_MAKERS,
    SOCKET_PAIR_MAKERS,
    SPAWN_CALLS,
    TIMEOUT_SCOPES,
    TRIGGERS,
    FileAnalysis,
    Finding,
    blocking_message,
    is_closing_message,
    legacy_message,
    spawn_message,
)
from .tree import Walker, bindings, imported_names, module_imports

__all__ = ["FileAnalysis", "Finding", "analyze_source", "lint_source"]

# A file containing none of these cannot trigger any rule (each rule declares its
# words) nor hold anything scan counts (legacy call sites, generator coroutines,
# Twisted protocol classes):
# it is not parsed.
_TRIGGERS = (*TRIGGERS, LEGACY.partition(".")[0], "coroutine", *HAND_WORK_WORDS, *DECORATOR_WORDS)
_IGNORE_RE = re.compile(r"#\s*migrate:\s*ignore(?:\[([^\]]*)\])?")


@dataclass
class _Scope:
    is_async: bool
    is_class: bool = False
    # Local names holding a blocking object: key -> kind ("socket" or "http").
    blocking: dict[str, str] = field(default_factory=dict)
    nonblocking: set[str] = field(default_factory=set)
    # (call node, receiver key, method name) awaiting the end of the scope.
    socket_calls: list[tuple[cst.Call, str, str]] = field(default_factory=list)
    timeout_depth: int = 0
    # Local names (parameters, plain assignments) that hide an import of the same name.
    shadowed: set[str] = field(default_factory=set)


def _params(params: cst.Parameters) -> set[str]:
    every = [*params.posonly_params, *params.params, *params.kwonly_params]
    for star in (params.star_arg, params.star_kwarg):
        if isinstance(star, cst.Param):
            every.append(star)
    return {param.name.value for param in every}


def _dotted(node: cst.CSTNode) -> str | None:
    return get_full_name_for_node(node) if isinstance(node, cst.Name | cst.Attribute) else None


def _nonblocking_arg(call: cst.Call) -> bool:
    """Return True for ``setblocking(False)``/``setblocking(0)``/``settimeout(0)``."""
    if len(call.args) != 1:
        return False
    value = call.args[0].value
    if isinstance(value, cst.Name):
        return value.value == "False"
    if isinstance(value, cst.Integer | cst.Float):
        return float(value.value) == 0.0
    return False


class _Linter(Walker):
    def __init__(self, imports: dict[str, str]) -> None:
        super().__init__()
        self.imports = imports
        self.scopes: list[_Scope] = [_Scope(is_async=False)]
        self.raw: list[tuple[str, cst.CSTNode, str]] = []  # (code, node, message)
        self.legacy_refs: list[tuple[cst.CSTNode, str]] = []
        self.legacy_imports: list[tuple[cst.CSTNode, str]] = []
        self.generator_coroutines = 0
        self.hand_work = 0
        self.skip_closing: set[int] = set()

    # -- name resolution -------------------------------------------------

    def qualify(self, node: cst.CSTNode) -> str | None:
        """Return the qualified name ``node`` refers to through imports, or None."""
        dotted = _dotted(node)
        if dotted is None:
            return None
        head, _, rest = dotted.partition(".")
        target = self.imports.get(head)
        if target is None or any(head in scope.shadowed for scope in self.scopes):
            return None
        return f"{target}.{rest}" if rest else target

    def _add_imports(self, node: cst.Import | cst.ImportFrom) -> None:
        for bound, qualified in bindings(node):
            self.imports[bound] = qualified
        for imported in imported_names(node):
            if imported == LEGACY or imported.startswith(LEGACY + "."):
                self.legacy_imports.append((node, imported))

    def visit_Import(self, node: cst.Import) -> bool:
        self._add_imports(node)
        return False

    def visit_ImportFrom(self, node: cst.ImportFrom) -> bool:
        self._add_imports(node)
        return False

    # -- scopes ----------------------------------------------------------

    @property
    def scope(self) -> _Scope:
        return self.scopes[-1]

    def _owner_for(self, key: str) -> _Scope:
        """Return the scope that tracks ``key``: the class for ``self.x``."""
        if key.startswith("self."):
            for scope in reversed(self.scopes):
                if scope.is_class:
                    return scope
        return self.scope

    def visit_FunctionDef(self, node: cst.FunctionDef) -> None:
        is_generator_coroutine = False
        for decorator in node.decorators:
            name = self.qualify(decorator.decorator)
            if name in GENERATOR_DECORATORS:
                is_generator_coroutine = True
                self.raw.append(
                    (
                        "MIG006",
                        decorator,
                        coroutine_left_message(name, call=False),
                    )
                )
        if is_generator_coroutine:
            self.generator_coroutines += 1
        is_async = node.asynchronous is not None or is_generator_coroutine
        self.scopes.append(_Scope(is_async=is_async, shadowed=_params(node.params)))

    def leave_FunctionDef(self, original_node: cst.FunctionDef) -> None:
        self._close_scope()

    def visit_Lambda(self, node: cst.Lambda) -> None:
        self.scopes.append(_Scope(is_async=False, shadowed=_params(node.params)))

    def leave_Lambda(self, original_node: cst.Lambda) -> None:
        self._close_scope()

    def visit_ClassDef(self, node: cst.ClassDef) -> None:
        self.hand_work += count_hand_work(node, self.qualify)
        self.scopes.append(_Scope(is_async=False, is_class=True))

    def leave_ClassDef(self, original_node: cst.ClassDef) -> None:
        self._close_scope()

    def leave_Module(self, original_node: cst.Module) -> None:
        self._close_scope()

    def _close_scope(self) -> None:
        scope = self.scopes.pop()
        for call, key, method in scope.socket_calls:
            kind = scope.blocking.get(key)
            if kind is None or method not in BLOCKING_METHODS[kind]:
                continue
            if kind != "socket" or key not in scope.nonblocking:
                self.raw.append(("MIG002", call, blocking_message(f"{key}.{method}", kind=kind)))

    # -- blocking objects (MIG002 on plain sockets and sync HTTP sessions) --

    def _socket_value(self, value: cst.BaseExpression) -> str:
        """Classify an assigned value: "socket", "http", "pair" (two sockets), "accepted" or ""."""
        if not isinstance(value, cst.Call):
            return ""
        name = self.qualify(value.func)
        if name in SOCKET_MAKERS:
            return "socket"
        if name in HTTP_SESSION_MAKERS:
            return "http"
        if name in SOCKET_PAIR_MAKERS:
            return "pair"
        func = value.func
        if isinstance(func, cst.Attribute) and func.attr.value == "accept":
            key = _dotted(func.value)
            if key is not None and self._owner_for(key).blocking.get(key) == "socket":
                return "accepted"
        return ""

    def _bind_sockets(self, target: cst.BaseExpression, kind: str) -> None:
        if kind in ("socket", "http"):
            key = _dotted(target)
            if key is not None:
                self._owner_for(key).blocking[key] = kind
        elif kind in ("pair", "accepted") and isinstance(target, cst.Tuple | cst.List):
            elements = target.elements if kind == "pair" else target.elements[:1]
            for element in elements:
                self._bind_sockets(element.value, "socket")

    def visit_Assign(self, node: cst.Assign) -> None:
        if len(self.scopes) > 1 and not self.scope.is_class:  # a function's local names
            self.scope.shadowed.update(
                t.target.value for t in node.targets if isinstance(t.target, cst.Name)
            )
        kind = self._socket_value(node.value)
        if kind:
            for target in node.targets:
                self._bind_sockets(target.target, kind)

    def visit_AnnAssign(self, node: cst.AnnAssign) -> None:
        kind = self._socket_value(node.value) if node.value is not None else ""
        if kind in ("socket", "http"):
            self._bind_sockets(node.target, kind)

    def visit_WithItem(self, node: cst.WithItem) -> None:
        if node.asname is not None:
            kind = self._socket_value(node.item)
            if kind:
                self._bind_sockets(node.asname.name, kind)

    # -- deadlines (MIG005) ------------------------------------------------

    def _is_timeout_with(self, node: cst.With) -> bool:
        return node.asynchronous is not None and any(
            isinstance(item.item, cst.Call) and self.qualify(item.item.func) in TIMEOUT_SCOPES
            for item in node.items
        )

    def visit_With(self, node: cst.With) -> None:
        if self._is_timeout_with(node):
            self.scope.timeout_depth += 1

    def leave_With(self, original_node: cst.With) -> None:
        if self._is_timeout_with(original_node):
            self.scope.timeout_depth -= 1

    def visit_Await(self, node: cst.Await) -> None:
        call = node.expression
        if (
            isinstance(call, cst.Call)
            and isinstance(call.func, cst.Attribute)
            and call.func.attr.value == "drain"
            and not call.args
            and self.scope.timeout_depth == 0
        ):
            receiver = _dotted(call.func.value) or "writer"
            self.raw.append(
                (
                    "MIG005",
                    node,
                    f"`await {receiver}.drain()` has no deadline: once 64 KiB are buffered "
                    "it waits forever on a peer that stopped reading; wrap it in "
                    "`async with asyncio.timeout(...)` or use shims `Connection.write(data, "
                    "timeout=...)`",
                )
            )

    # -- statements: MIG004 and the MIG001 exemptions --------------------

    def visit_Expr(self, node: cst.Expr) -> None:
        value = node.value
        if not isinstance(value, cst.Call):
            return
        if _is_closing_call(value):
            self.skip_closing.add(id(value))  # result unused: not a check at all
            return
        what = self._spawn_name(value)
        if what is not None:
            self.raw.append(("MIG004", value, spawn_message(what)))

    def _spawn_name(self, call: cst.Call) -> str | None:
        qualified = self.qualify(call.func)
        if qualified in SPAWN_CALLS:
            return qualified
        func = call.func
        if isinstance(func, cst.Attribute) and func.attr.value == "create_task":
            receiver = func.value
            if isinstance(receiver, cst.Call) and self.qualify(receiver.func) in LOOP_GETTERS:
                return f"{self.qualify(receiver.func)}().create_task"
            dotted = _dotted(receiver)
            if dotted is not None and "loop" in dotted.rpartition(".")[2].lower():
                return f"{dotted}.create_task"
        return None

    def visit_If(self, node: cst.If) -> None:
        # `if not t.is_closing(): t.close()` guards an idempotent close; it is
        # not a liveness decision, so it is exempt.
        test = node.test
        if isinstance(test, cst.UnaryOperation) and isinstance(test.operator, cst.Not):
            test = test.expression
        if not (isinstance(test, cst.Call) and _is_closing_call(test)):
            return
        assert isinstance(test.func, cst.Attribute)
        receiver = test.func.value
        body = node.body.body if isinstance(node.body, cst.IndentedBlock) else [node.body]
        if body and all(_only_closes(stmt, receiver) for stmt in body):
            self.skip_closing.add(id(test))

    # -- calls ---------------------------------------------------------------

    def visit_Call(self, node: cst.Call) -> None:
        wrapper = self.qualify(node.func)
        if wrapper in GENERATOR_DECORATORS:  # ``asyncio.coroutine(fn)``
            self.generator_coroutines += 1
            self.raw.append(
                (
                    "MIG006",
                    node,
                    coroutine_left_message(wrapper, call=True),
                )
            )
        if _is_closing_call(node):
            if id(node) not in self.skip_closing:
                assert isinstance(node.func, cst.Attribute)
                receiver = _dotted(node.func.value) or "transport"
                self.raw.append(("MIG001", node, is_closing_message(receiver)))
            return
        func = node.func
        if isinstance(func, cst.Attribute):
            method = func.attr.value
            if method in ("setblocking", "settimeout") and _nonblocking_arg(node):
                key = _dotted(func.value)
                if key is not None:
                    self._owner_for(key).nonblocking.add(key)
        if not self.scope.is_async:
            return
        qualified = self.qualify(func)
        if qualified in BLOCKING_CALLS:
            self.raw.append(("MIG002", node, blocking_message(qualified)))
        elif isinstance(func, cst.Attribute) and func.attr.value in OBJECT_METHODS:
            key = _dotted(func.value)
            if key is not None:
                self._owner_for(key).socket_calls.append((node, key, func.attr.value))

    # -- legacy references (MIG003, scan counts) ---------------------------

    def _legacy_ref(self, node: cst.Name | cst.Attribute) -> bool:
        qualified = self.qualify(node)
        if qualified is not None and (qualified == LEGACY or qualified.startswith(LEGACY + ".")):
            self.legacy_refs.append((node, qualified))
            return False
        return True

    def visit_Attribute(self, node: cst.Attribute) -> bool:
        return self._legacy_ref(node)

    def visit_Name(self, node: cst.Name) -> bool:
        return self._legacy_ref(node)


def _is_closing_call(call: cst.Call) -> bool:
    return (
        isinstance(call.func, cst.Attribute)
        and call.func.attr.value == "is_closing"
        and not call.args
    )


def _only_closes(stmt: cst.CSTNode, receiver: cst.BaseExpression) -> bool:
    """Return True if ``stmt`` only closes ``receiver`` (close/abort, maybe awaited)."""
    if not isinstance(stmt, cst.SimpleStatementLine):
        return False
    for small in stmt.body:
        if not isinstance(small, cst.Expr):
            return False
        value = small.value
        if isinstance(value, cst.Await):
            value = value.expression
        if not (
            isinstance(value, cst.Call)
            and isinstance(value.func, cst.Attribute)
            and value.func.attr.value in ("close", "abort", "wait_closed")
            and value.func.value.deep_equals(receiver)
        ):
            return False
    return True


def _suppressions(source: str) -> dict[int, frozenset[str] | None]:
    """Map line -> suppressed codes (None: all) from ``# migrate: ignore`` comments."""
    if "migrate:" not in source:
        return {}
    found: dict[int, frozenset[str] | None] = {}
    try:
        comments = [
            (tok.start[0], tok.string)
            for tok in tokenize.generate_tokens(io.StringIO(source).readline)
            if tok.type == tokenize.COMMENT
        ]
    except (tokenize.TokenError, SyntaxError):
        comments = [(n, line) for n, line in enumerate(source.splitlines(), 1)]
    for line, text in comments:
        match = _IGNORE_RE.search(text)
        if match is None:
            continue
        if match.group(1) is None:
            found[line] = None
        else:
            codes = frozenset(c.strip().upper() for c in match.group(1).split(",") if c.strip())
            previous = found.get(line, frozenset())
            found[line] = None if previous is None else previous | codes
    return found


def _parse_error(source: str, filename: str) -> Finding | None:
    """Syntax-check ``source`` with ``ast`` (fast path for files not linted)."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # SyntaxWarning on odd escapes is not ours
            ast.parse(source, filename)
    except SyntaxError as exc:
        return Finding("MIG000", exc.lineno or 1, exc.offset or 1,
                       f"could not parse: {exc.msg}", filename)  # fmt: skip
    except ValueError as exc:  # NUL bytes on Python 3.11
        return Finding("MIG000", 1, 1, f"could not parse: {exc}", filename)
    return None


def analyze_source(source: str, filename: str, *, flipped: bool = False) -> FileAnalysis:
    """Lint ``source`` and count what ``scan`` reports, in one parse.

    A file that does not parse yields a single MIG000 finding and zero counts;
    nothing is raised for bad input.
    """
    if not any(trigger in source for trigger in _TRIGGERS):
        error = _parse_error(source, filename)
        return FileAnalysis((error,) if error else (), 0, 0)
    try:
        module = cst.parse_module(source)
    except cst.ParserSyntaxError as exc:
        # ast's location and wording are the ones users know from Python.
        error = _parse_error(source, filename) or Finding(
            "MIG000", exc.raw_line, exc.raw_column + 1, f"could not parse: {exc.message}", filename
        )
        return FileAnalysis((error,), 0, 0)
    except RecursionError:
        return FileAnalysis((Finding("MIG000", 1, 1, "could not parse: nested too deeply",
                                     filename),), 0, 0)  # fmt: skip
    linter = _Linter(module_imports(module))
    linter.walk(module)
    legacy = linter.legacy_refs or linter.legacy_imports
    raw = list(linter.raw)
    if flipped:
        raw.extend(("MIG003", node, legacy_message(name)) for node, name in legacy)
    findings = _positioned(module, raw, source, filename)
    return FileAnalysis(tuple(findings), len(legacy), linter.generator_coroutines, linter.hand_work)


def _positioned(
    module: cst.Module, raw: Sequence[tuple[str, cst.CSTNode, str]], source: str, filename: str
) -> list[Finding]:
    if not raw:
        return []
    positions = MetadataWrapper(module, unsafe_skip_copy=True).resolve(PositionProvider)
    ignored = _suppressions(source)
    findings: set[Finding] = set()
    for code, node, message in raw:
        start, end = positions[node].start, positions[node].end
        # A comment on any line of the flagged code counts, so a call split
        # over several lines can carry it after its closing parenthesis.
        lines = (ignored.get(n, frozenset()) for n in range(start.line, end.line + 1))
        if any(codes is None or code in codes for codes in lines):
            continue
        findings.add(Finding(code, start.line, start.column + 1, message, filename))
    return sorted(findings, key=lambda f: (f.line, f.col, f.code))


def lint_source(source: str, filename: str, *, flipped: bool = False) -> list[Finding]:
    """Return the findings for one file's text, sorted by position.

    ``flipped`` says the file belongs to a service whose backend is already
    asyncio/uvloop, which turns every ``legacy.runtime`` use into MIG003.
    Suppress a finding with ``# migrate: ignore[MIG00N]`` on its line, or on
    any line of the flagged code when it spans several (a bare
    ``# migrate: ignore`` suppresses every code there). Never raises for bad
    source: a file that does not parse yields one MIG000 finding.
    """
    return list(analyze_source(source, filename, flipped=flipped).findings)
