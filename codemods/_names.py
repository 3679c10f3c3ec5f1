"""What an import statement binds, and dotted names: one reading for the codemods and the lints.

Every engine that resolves names without libcst's scope metadata (the
rename engine's scan, generators-to-async's import table, ``migrate
check``'s lints) starts from the same facts, read here once.
"""

from __future__ import annotations

from dataclasses import dataclass

import libcst as cst

__all__ = ["ImportedName", "chain", "dotted", "dotted_name", "import_bindings"]


@dataclass(frozen=True)
class ImportedName:
    """One name an import statement binds.

    ``import a.b`` binds ``a`` (qualname ``a``, module ``a.b``); ``import a.b
    as x`` binds ``x`` (qualname and module ``a.b``); ``from m import n as k``
    binds ``k`` (qualname ``m.n``, module ``m``, obj ``n``).
    """

    local: str
    qualname: str
    module: str
    obj: str | None  # the imported attribute, for ``from ... import``
    aliased: bool  # bound under an ``as`` name
    alias: cst.ImportAlias


def chain(node: cst.BaseExpression) -> tuple[str, ...] | None:
    """Return the names of a pure ``a.b.c`` chain, or None for anything else."""
    parts: list[str] = []
    while isinstance(node, cst.Attribute):
        parts.append(node.attr.value)
        node = node.value
    if not isinstance(node, cst.Name):
        return None
    parts.append(node.value)
    parts.reverse()
    return tuple(parts)


def dotted_name(node: cst.BaseExpression) -> str | None:
    """Return ``a.b.c`` for a Name/Attribute chain, else None."""
    parts = chain(node)
    return None if parts is None else ".".join(parts)


def dotted(name: str) -> cst.Name | cst.Attribute:
    """Return the Name/Attribute chain for ``a.b.c`` (built, not parsed: parsing costs more)."""
    head, *rest = name.split(".")
    node: cst.Name | cst.Attribute = cst.Name(head)
    for part in rest:
        node = cst.Attribute(value=node, attr=cst.Name(part))
    return node


def import_bindings(node: cst.Import | cst.ImportFrom) -> list[ImportedName]:
    """Return the names ``node`` binds; relative and star imports bind nothing known."""
    out: list[ImportedName] = []
    if isinstance(node, cst.Import):
        for alias in node.names:
            module = dotted_name(alias.name)
            if module is None:
                continue
            if alias.asname is not None and isinstance(alias.asname.name, cst.Name):
                out.append(ImportedName(alias.asname.name.value, module, module, None, True, alias))
            else:
                head = module.split(".", 1)[0]
                out.append(ImportedName(head, head, module, None, False, alias))
        return out
    if node.relative or node.module is None or isinstance(node.names, cst.ImportStar):
        return out
    module = dotted_name(node.module)
    if module is None:
        return out
    for alias in node.names:
        if not isinstance(alias.name, cst.Name):
            continue
        obj = alias.name.value
        asname = alias.asname.name if alias.asname is not None else None
        local = asname.value if isinstance(asname, cst.Name) else obj
        qualname = f"{module}.{obj}"
        out.append(ImportedName(local, qualname, module, obj, local is not obj, alias))
    return out
