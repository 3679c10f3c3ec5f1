"""Build the replacement expressions of generators-to-async (await, gather, sleep(0), ...).

Builders take the already-transformed children from the updated tree, so
rewrites nested inside a yielded value (``loop=`` drops, inner conversions)
are kept. ``await`` binds tighter than ``yield``, so an operand that is not
an atom (``yield a if c else b``) gets parentheses.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import libcst as cst

from .._names import dotted

__all__ = [
    "await_",
    "await_if_awaitable",
    "call",
    "dunder_await",
    "gather_dict",
    "gather_dict_name",
    "gather_list",
    "sleep0",
]

# Operands ``await`` (and ``.__await__()``) take without parentheses. Wider
# than the rename engine's ``_TIGHTER_THAN_CALL`` (codemods/_rename/reshape.py):
# keeping each set as it is keeps every output byte-for-byte as it was.
_TIGHTER_THAN_AWAIT = (
    cst.Name,
    cst.Attribute,
    cst.Call,
    cst.Subscript,
    cst.List,
    cst.Tuple,
    cst.Dict,
    cst.Set,
    cst.ListComp,
    cst.SetComp,
    cst.DictComp,
    cst.GeneratorExp,
    cst.SimpleString,
    cst.FormattedString,
    cst.Integer,
    cst.Float,
    cst.Await,
)


def _await_operand(expr: cst.BaseExpression) -> cst.BaseExpression:
    if isinstance(expr, _TIGHTER_THAN_AWAIT) or expr.lpar:
        return expr
    return expr.with_changes(lpar=[cst.LeftParen()], rpar=[cst.RightParen()])


def await_(
    expr: cst.BaseExpression,
    like: cst.BaseExpression | None = None,
) -> cst.Await:
    """Return ``await expr``, taking the parentheses of ``like`` (the yield it replaces)."""
    lpar: Sequence[cst.LeftParen] = like.lpar if like is not None else ()
    rpar: Sequence[cst.RightParen] = like.rpar if like is not None else ()
    return cst.Await(expression=_await_operand(expr), lpar=lpar, rpar=rpar)


def await_if_awaitable(expr: cst.BaseExpression) -> cst.BaseExpression:
    """Return ``(await _returned) if inspect.isawaitable(_returned := expr) else _returned``.

    The test ``asyncio.coroutine`` made on a returned value, with ``expr``
    evaluated once (the condition of a conditional expression runs first).
    """
    return _template(
        "(await __r) if inspect.isawaitable(__v) else __r",
        __r=cst.Name("_returned"),
        __v=cst.NamedExpr(target=cst.Name("_returned"), value=expr),
    )


def dunder_await(expr: cst.BaseExpression) -> cst.Call:
    """Return ``expr.__await__()``: what a plain generator may delegate to."""
    return cst.Call(func=cst.Attribute(value=_await_operand(expr), attr=cst.Name("__await__")))


def call(name: str, args: Sequence[cst.Arg] = ()) -> cst.Call:
    """Return ``a.b.c(args)``."""
    return cst.Call(func=dotted(name), args=args)


def sleep0(prefix: str) -> cst.Call:
    """Return ``prefix.sleep(0)``: one scheduling point, as a bare ``yield`` was."""
    return call(f"{prefix}.sleep", [cst.Arg(cst.Integer("0"))])


def _args_of(expr: cst.BaseExpression) -> list[cst.Arg]:
    if isinstance(expr, cst.List | cst.Tuple):
        args: list[cst.Arg] = []
        for element in expr.elements:
            assert isinstance(element, cst.Element)
            args.append(cst.Arg(element.value, comma=element.comma))
        if args:
            args[-1] = args[-1].with_changes(comma=cst.MaybeSentinel.DEFAULT)
        return args
    return [cst.Arg(expr, star="*")]


def gather_list(prefix: str, expr: cst.BaseExpression) -> cst.Call:
    """Return ``asyncio.gather(a, b)`` for ``[a, b]``, ``asyncio.gather(*xs)`` for anything else."""
    return call(f"{prefix}.gather", _args_of(expr))


class _Subst(cst.CSTTransformer):
    def __init__(self, mapping: Mapping[str, cst.BaseExpression]) -> None:
        super().__init__()
        self.mapping = mapping

    def leave_Name(self, original_node: cst.Name, updated_node: cst.Name) -> cst.BaseExpression:
        return self.mapping.get(original_node.value, updated_node)


def _template(code: str, **subst: cst.BaseExpression) -> cst.BaseExpression:
    result = cst.parse_expression(code).visit(_Subst(subst))
    assert isinstance(result, cst.BaseExpression)
    return result


def gather_dict(prefix: str, expr: cst.Dict) -> cst.BaseExpression:
    """Return ``{k: v for k, v in zip((k1, k2), await gather(v1, v2))}`` for ``{k1: v1, k2: v2}``."""
    keys: list[cst.Element] = []
    values: list[cst.Element] = []
    for element in expr.elements:
        assert isinstance(element, cst.DictElement)
        keys.append(
            cst.Element(element.key, comma=cst.Comma(whitespace_after=cst.SimpleWhitespace(" ")))
        )
        values.append(cst.Element(element.value, comma=element.comma))
    if keys:
        keys[-1] = keys[-1].with_changes(
            comma=cst.MaybeSentinel.DEFAULT if len(keys) > 1 else cst.Comma()
        )
    gathered = await_(gather_list(prefix, cst.List(values)))
    return _template(
        "{__k: __v for __k, __v in zip(__keys, __all)}",
        __keys=cst.Tuple(keys),
        __all=gathered,
        __k=cst.Name("k"),
        __v=cst.Name("v"),
    )


def gather_dict_name(prefix: str, name: cst.BaseExpression) -> cst.BaseExpression:
    """Return ``{k: v for k, v in zip(d, await gather(*d.values()))}`` for a dict ``d``."""
    values = cst.Call(func=cst.Attribute(value=name, attr=cst.Name("values")))
    gathered = await_(call(f"{prefix}.gather", [cst.Arg(values, star="*")]))
    return _template(
        "{__k: __v for __k, __v in zip(__d, __all)}",
        __d=name,
        __all=gathered,
        __k=cst.Name("k"),
        __v=cst.Name("v"),
    )
