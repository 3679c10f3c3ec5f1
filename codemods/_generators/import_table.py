"""Alias-aware name resolution without libcst's scope metadata.

The codemod runs over monorepos, so it does not pay for ``ScopeProvider`` or
``QualifiedNameProvider`` (a full scope analysis per file). Instead the
analysis pass feeds every ``import``/``from ... import`` it meets into an
``ImportTable``, plus every other binding of a module-level name, and
dotted expressions are resolved against it: ``rt.coroutine`` after
``import legacy.runtime as rt`` is ``legacy.runtime.coroutine``. A name bound
both by an import and by something else (an assignment, a ``def``, a second,
different import) is ambiguous and resolves to nothing, so the codemod
leaves code using it alone.
"""

from __future__ import annotations

from dataclasses import dataclass

import libcst as cst

from .._names import dotted_name, import_bindings

__all__ = ["Binding", "ImportTable"]


@dataclass(frozen=True)
class Binding:
    """One import binding: the qualified name a local name stands for."""

    qualname: str
    module: str
    obj: str | None
    asname: str | None


class ImportTable:
    """Local names bound by imports in one module, and how to resolve them."""

    def __init__(self) -> None:
        self._bindings: dict[str, Binding] = {}
        self._ambiguous: set[str] = set()
        self._other: set[str] = set()

    def add_import(self, node: cst.Import | cst.ImportFrom) -> None:
        """Record the names ``node`` binds (star and relative imports bind nothing known)."""
        for name in import_bindings(node):
            asname = name.local if name.aliased else None
            self._bind(name.local, Binding(name.qualname, name.module, name.obj, asname))

    def has_module(self, module: str) -> bool:
        """Tell whether ``import module`` (unaliased, unshadowed) is in effect."""
        binding = self.binding(module)
        return binding is not None and binding.qualname == module and binding.obj is None

    def imports_from(self, module: str) -> bool:
        """Tell whether any import binds something from ``module`` or its submodules."""
        return any(
            b.module == module or b.module.startswith(module + ".") for b in self._bindings.values()
        )

    def add_other_binding(self, name: str) -> None:
        """Record that ``name`` is also bound by something other than an import."""
        self._other.add(name)

    def _bind(self, local: str, binding: Binding) -> None:
        previous = self._bindings.get(local)
        if previous is not None and previous.qualname != binding.qualname:
            self._ambiguous.add(local)
        self._bindings.setdefault(local, binding)

    def binding(self, local: str) -> Binding | None:
        """Return the unambiguous import binding of ``local``, if any."""
        if local in self._ambiguous or local in self._other:
            return None
        return self._bindings.get(local)

    def resolve(self, node: cst.BaseExpression) -> str | None:
        """Return the qualified name ``node`` refers to through an import, or None."""
        dotted = dotted_name(node)
        if dotted is None:
            return None
        head, _, rest = dotted.partition(".")
        binding = self.binding(head)
        if binding is None:
            return None
        return f"{binding.qualname}.{rest}" if rest else binding.qualname

    def head_binding(self, node: cst.BaseExpression) -> Binding | None:
        """Return the binding of the leftmost name of a dotted expression."""
        dotted = dotted_name(node)
        if dotted is None:
            return None
        return self.binding(dotted.partition(".")[0])

    def is_free_or(self, local: str, qualname: str) -> bool:
        """Tell whether ``local`` is unbound, or bound to exactly ``qualname``."""
        if local in self._other or local in self._ambiguous:
            return False
        binding = self._bindings.get(local)
        return binding is None or binding.qualname == qualname

    def local_name_for(self, qualname: str) -> str | None:
        """Return a dotted local expression for module ``qualname`` (``rt``, ``legacy.runtime``)."""
        for local, binding in self._bindings.items():
            if self.binding(local) is None:
                continue
            if binding.qualname == qualname:
                return local
            if binding.asname is None and binding.obj is None and binding.module == qualname:
                return qualname
        return None
