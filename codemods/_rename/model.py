"""The facts one scan of a module gathers: scopes, import bindings, references, names."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import libcst as cst

ScopeKind = Literal["module", "function", "class", "comprehension"]


class Scope:
    """Names bound in one Python scope; ``imports`` holds the source-module bindings."""

    __slots__ = ("bound", "globals", "imports", "kind", "nonlocals", "parent")

    def __init__(self, kind: ScopeKind, parent: Scope | None) -> None:
        self.kind: ScopeKind = kind
        self.parent = parent
        self.bound: dict[str, int] = {}
        self.imports: dict[str, list[SourceBinding]] = {}
        self.globals: set[str] = set()
        self.nonlocals: set[str] = set()


@dataclass(eq=False)
class SourceBinding:
    """A name bound by an import related to the source module.

    ``qual`` is what the name denotes (``legacy``, ``legacy.runtime``,
    ``legacy.runtime.sleep``); ``path`` is the module the import loads.
    """

    name: str
    qual: str
    path: str
    alias: cst.ImportAlias
    stmt: cst.Import | cst.ImportFrom
    scope: Scope
    trail: tuple[cst.CSTNode, ...]  # root .. stmt


@dataclass(eq=False)
class Ref:
    """A use of a name whose root is an import binding of interest."""

    parts: tuple[str, ...]
    node: cst.Name | cst.Attribute
    scope: Scope
    trail: tuple[cst.CSTNode, ...]  # root .. node
    call: cst.Call | None = None
    ctx: Literal["load", "store", "dynamic"] = "load"


@dataclass
class Scan:
    """Everything the planner needs about one module."""

    module_scope: Scope
    bindings: list[SourceBinding] = field(default_factory=list)
    refs: list[Ref] = field(default_factory=list)
    stars: list[cst.ImportFrom] = field(default_factory=list)
    names: set[str] = field(default_factory=set)  # every name bound or used anywhere
    other_bound: dict[str, set[str]] = field(default_factory=dict)  # name -> what binds it
    top_imports: set[tuple[str, ...]] = field(default_factory=set)
    has_all: bool = False
    string_annotations: list[cst.SimpleString] = field(default_factory=list)
