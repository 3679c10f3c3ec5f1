"""Build import statements for the rename engine: new ones, and old ones with names dropped."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import libcst as cst

from .._names import dotted

ImportKey = tuple[str, ...]  # ("import", module) or ("from", module, name, local)


def commas(
    aliases: list[cst.ImportAlias], last: cst.Comma | cst.MaybeSentinel = cst.MaybeSentinel.DEFAULT
) -> list[cst.ImportAlias]:
    """Return ``aliases`` with a comma between each, and ``last`` (the old tail's) at the end."""
    out = list(aliases)
    if out:
        out[-1] = out[-1].with_changes(comma=last)
    for i, a in enumerate(out[:-1]):
        if not isinstance(a.comma, cst.Comma):
            out[i] = a.with_changes(comma=cst.Comma(whitespace_after=cst.SimpleWhitespace(" ")))
    return out


def new_imports(needs: list[ImportKey]) -> list[cst.BaseSmallStatement]:
    """Return ``import m`` / ``from m import a as b`` statements, one ``from`` per module."""
    out: list[cst.BaseSmallStatement] = []
    froms: dict[str, list[cst.ImportAlias]] = {}
    for key in needs:
        if key[0] == "import":
            out.append(cst.Import(names=[cst.ImportAlias(name=dotted(key[1]))]))
        else:
            _, module, name, local = key
            alias = cst.ImportAlias(
                name=cst.Name(name),
                asname=None if name == local else cst.AsName(name=cst.Name(local)),
            )
            froms.setdefault(module, []).append(alias)
    for module, aliases in froms.items():
        out.append(cst.ImportFrom(module=dotted(module), names=commas(aliases)))
    return out


def edit_statement(
    stmt: cst.Import | cst.ImportFrom,
    trail: tuple[cst.CSTNode, ...],
    drop: set[int],
    needs: list[ImportKey],
    alias_key: dict[int, ImportKey],
) -> tuple[tuple[cst.CSTNode, ...], Callable[[Any], Any]] | None:
    """Plan the edit of one import statement: (trail of the node to replace, builder).

    Drops the aliases whose ids are in ``drop`` and adds ``needs`` right after
    it. When every alias moved to one module, the statement itself is reused
    (``alias_key`` maps a dropped alias to the import that replaces it), so its
    parentheses, comments and aliases stay. A line left empty is removed, or
    becomes ``pass`` when it was its block's only statement. ``trail`` runs
    from the module to ``stmt``.
    """
    names = stmt.names
    assert isinstance(names, Sequence)
    remaining = [a for a in names if id(a) not in drop]
    if not drop and not needs:
        return None
    smalls: list[cst.BaseSmallStatement] = []
    froms = [k for k in needs if k[0] == "from"]
    dropped = [a for a in names if id(a) in drop]
    in_place = (
        not remaining
        and isinstance(stmt, cst.ImportFrom)
        and froms
        and len({k[1] for k in froms}) == 1
        and set(froms) == set(alias_key.values())
    )
    if in_place:
        assert isinstance(stmt, cst.ImportFrom)
        aliases = [
            a.with_changes(
                name=cst.Name(k[2]),
                asname=None if k[2] == k[3] else cst.AsName(name=cst.Name(k[3])),
            )
            for a in dropped
            if (k := alias_key.get(id(a))) is not None
        ]
        smalls.append(
            stmt.with_changes(
                module=dotted(froms[0][1]),
                relative=(),
                names=commas(aliases, names[-1].comma),
            )
        )
        needs = [k for k in needs if k[0] != "from"]
    elif remaining:
        smalls.append(stmt.with_changes(names=commas(remaining, names[-1].comma)))
    smalls.extend(new_imports(needs))
    line, block = trail[-2], trail[-3]
    if isinstance(line, cst.SimpleStatementLine) and len(line.body) == 1:
        only_child = isinstance(block, cst.IndentedBlock) and len(block.body) == 1

        def build_line(updated: Any) -> Any:
            if not smalls:
                return (
                    updated.with_changes(body=[cst.Pass()])
                    if only_child
                    else cst.RemoveFromParent()
                )
            first = updated.with_changes(body=[smalls[0]])
            if len(smalls) == 1:
                return first
            return cst.FlattenSentinel(
                [first, *(cst.SimpleStatementLine(body=[s]) for s in smalls[1:])]
            )

        return trail[:-1], build_line
    else:

        def build_small(updated: Any) -> Any:
            if not smalls:
                return cst.RemoveFromParent()
            return cst.FlattenSentinel(smalls) if len(smalls) > 1 else smalls[0]

        return trail, build_small
