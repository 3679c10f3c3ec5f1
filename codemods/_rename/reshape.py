"""Reshape the arguments of one call according to a spec rule.

The plan is computed on the original call (binding its arguments to the
source signature, checking keyword constraints and evaluation order) and
applied later to the updated call, whose argument list has the same shape
because nested rewrites only change what is inside each argument.
"""

from __future__ import annotations

import ast
from collections.abc import Callable, Sequence
from typing import Literal

import libcst as cst

from .spec import _CALL_ITEM, Rule

#: Rewrites one call of a rule (a plain or reshaped rename); ``plan_call`` makes them.
CallRewrite = Callable[[cst.Call], cst.Call]
_PURE_LEAVES = (
    cst.Name,
    cst.Integer,
    cst.Float,
    cst.Imaginary,
    cst.SimpleString,
    cst.Ellipsis,
    cst.Lambda,
)


def _pure(node: cst.BaseExpression) -> bool:
    """Return True if evaluating ``node`` cannot run user code worth ordering."""
    if isinstance(node, _PURE_LEAVES):
        return True
    if isinstance(node, cst.Attribute):
        return _pure(node.value)
    if isinstance(node, cst.UnaryOperation):
        return _pure(node.expression)
    if isinstance(node, cst.List | cst.Tuple):
        return all(_pure(e.value) for e in node.elements)
    return False


def _literal(node: cst.BaseExpression) -> str | None:
    if isinstance(node, cst.SimpleString):
        value = ast.literal_eval(node.value)
        return value if isinstance(value, str) else None
    return None


def plan_call(rule: Rule, call: cst.Call, shown: str) -> CallRewrite | str:
    """Return a function rewriting ``call``'s arguments, or the reason it cannot be done.

    ``shown`` is how the callee is named in messages (``legacy.runtime.listen``).
    """
    args = list(call.args)
    if any(a.star == "**" for a in args) and (rule.reshapes or rule.keywords or rule.require):
        return f"{shown}(**...) hides which keywords are passed; left unchanged"
    for kw, allowed in rule.require.items():
        for a in args:
            if a.keyword is not None and a.keyword.value == kw:
                value = _literal(a.value)
                if value not in allowed:
                    code = cst.Module([]).code_for_node(a.value)
                    return (
                        f"{shown}({kw}={code}) cannot be converted: only "
                        f"{kw}={' or '.join(map(repr, allowed))} has the same meaning"
                    )
    for a in args:
        if a.keyword is not None and a.keyword.value in rule.reject:
            return (
                f"{shown}({a.keyword.value}=...) has no equivalent in "
                f"{rule.target.expr}; left unchanged"
            )
    if rule.positional is not None:
        count = sum(1 for a in args if a.keyword is None and a.star == "")
        if count > rule.positional or any(a.star == "*" for a in args):
            return (
                f"{shown}() with more than {rule.positional} positional argument(s) has "
                f"no equivalent in {rule.target.expr}; left unchanged"
            )
    renamed: list[tuple[int, str | None]] = []  # keyword args kept, with their new name
    if not rule.reshapes:
        for i, a in enumerate(args):
            if a.keyword is not None and a.keyword.value in rule.keywords:
                renamed.append((i, rule.keywords[a.keyword.value]))
        return _renamer(renamed)
    assert rule.params is not None and rule.args is not None
    fixed = [p for p in rule.params if not p.startswith("*")]
    rest_name = next((p[1:] for p in rule.params if p.startswith("*")), None)
    bound: dict[str, int] = {}
    rest: list[int] = []
    for i, a in enumerate(args):
        if a.keyword is None and a.star == "":
            if len(bound) < len(fixed) and not rest:
                bound[fixed[len(bound)]] = i
            elif rest_name is not None:
                rest.append(i)
            else:
                return (
                    f"{shown}() takes {len(fixed)} positional argument(s), got more; left unchanged"
                )
        elif a.star == "*":
            if rest_name is None or len(bound) < len(fixed):
                return f"{shown}(*...) hides which argument is which; left unchanged"
            rest.append(i)
        elif a.keyword is not None:
            kw = a.keyword.value
            if kw in fixed:
                if kw in bound:
                    return f"{shown}() got {kw!r} twice; left unchanged"
                bound[kw] = i
            elif kw in rule.keywords:
                renamed.append((i, rule.keywords[kw]))
            else:
                renamed.append((i, kw))
    items: list[tuple[str, int, list[int]]] = []  # (kind, index, extra indices)
    missing_at: int | None = None
    for pos, item in enumerate(rule.args):
        m = _CALL_ITEM.match(item)
        key = m["func"] if m else item.removeprefix("*")
        if key == rest_name and item.startswith("*"):
            items.extend(("keep", j, []) for j in rest)
            continue
        if key not in bound:
            missing_at = pos if missing_at is None else missing_at
            continue
        if missing_at is not None:
            return f"{shown}() is missing argument {rule.args[missing_at]!r}; left unchanged"
        if m:
            items.append(("wrap", bound[key], rest))
        elif item.startswith("*"):
            items.append(("spread", bound[key], []))
        else:
            items.append(("pos", bound[key], []))
    order = [i for _, i, extra in items for i in (i, *extra)] + [i for i, _ in renamed]
    impure = [i for i in order if not _pure(args[i].value)]
    if impure != sorted(impure):
        return (
            f"{shown}(): the new argument order would evaluate the arguments in a "
            "different order; left unchanged"
        )
    return _reshaper(items, renamed)


def _renamer(renamed: list[tuple[int, str | None]]) -> CallRewrite:
    def apply(call: cst.Call) -> cst.Call:
        args = list(call.args)
        for i, new in sorted(renamed, reverse=True):
            a = args[i]
            if new is None:
                del args[i]
            elif a.keyword is not None:
                args[i] = a.with_changes(keyword=a.keyword.with_changes(value=new))
        return call.with_changes(args=_fix_commas(args, call.args))

    return apply


def _reshaper(
    items: list[tuple[str, int, list[int]]], renamed: list[tuple[int, str | None]]
) -> CallRewrite:
    def apply(call: cst.Call) -> cst.Call:
        src = call.args
        out: list[cst.Arg] = []
        spread_at: set[int] = set()  # positions in out that came from a spread literal
        before = call.whitespace_before_args
        for kind, i, extra in items:
            a = src[i]
            positional = a.with_changes(
                keyword=None, equal=cst.MaybeSentinel.DEFAULT, comma=cst.MaybeSentinel.DEFAULT
            )
            if kind == "keep":
                out.append(a)
            elif kind == "pos":
                out.append(positional)
            elif kind == "wrap":
                if isinstance(a.value, cst.Call | cst.Await) and not extra:
                    out.append(positional)
                else:
                    inner = _fix_commas([src[j] for j in extra], [src[j] for j in extra])
                    if inner:
                        inner[-1] = inner[-1].with_changes(comma=cst.MaybeSentinel.DEFAULT)
                    wrapped = cst.Call(func=_call_operand(a.value), args=inner)
                    out.append(positional.with_changes(value=wrapped))
            elif isinstance(a.value, cst.Tuple) or (
                isinstance(a.value, cst.List) and not a.value.lpar
            ):
                lit = a.value
                if not out and isinstance(
                    lit.lbracket if isinstance(lit, cst.List) else None, cst.LeftSquareBracket
                ):
                    assert isinstance(lit, cst.List)
                    if not _ws_text(before):
                        before = lit.lbracket.whitespace_after
                for el in lit.elements:
                    star: Literal["", "*"] = "*" if isinstance(el, cst.StarredElement) else ""
                    out.append(cst.Arg(value=el.value, star=star, comma=el.comma))
                    spread_at.add(len(out) - 1)
                if out and isinstance(lit, cst.List) and _ws_text(lit.rbracket.whitespace_before):
                    out[-1] = out[-1].with_changes(
                        whitespace_after_arg=lit.rbracket.whitespace_before
                    )
            else:
                out.append(positional.with_changes(star="*", value=_call_operand(a.value)))
        for i, new in renamed:
            if new is not None:
                a = src[i]
                assert a.keyword is not None
                out.append(a.with_changes(keyword=a.keyword.with_changes(value=new)))
        return call.with_changes(
            whitespace_before_args=before, args=_fix_commas(out, src, frozenset(spread_at))
        )

    return apply


# Expressions that stay unparenthesized as a callee or after ``*``; a narrower
# set than generators-to-async's ``_TIGHTER_THAN_AWAIT`` on purpose (see there).
_TIGHTER_THAN_CALL = (
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
    cst.SimpleString,
)


def _call_operand(expr: cst.BaseExpression) -> cst.BaseExpression:
    """Return ``expr`` parenthesized unless it already binds tighter than a call or ``*``."""
    if expr.lpar or isinstance(expr, _TIGHTER_THAN_CALL):
        return expr
    return expr.with_changes(lpar=[cst.LeftParen()], rpar=[cst.RightParen()])


def _ws_text(ws: cst.BaseParenthesizableWhitespace) -> str:
    return cst.Module([]).code_for_node(ws)


def _fix_commas(
    out: Sequence[cst.Arg], src: Sequence[cst.Arg], spread: frozenset[int] = frozenset()
) -> list[cst.Arg]:
    """Give the new argument list valid commas, keeping the old layout where slots match."""
    result: list[cst.Arg] = []
    n = len(out)
    for k, a in enumerate(out):
        last = k == n - 1
        if n == len(src):  # same slots: inherit each slot's comma and trailing whitespace
            slot = src[k]
            a = a.with_changes(comma=slot.comma, whitespace_after_arg=slot.whitespace_after_arg)
        elif last:
            tail = src[-1] if src else None
            if k not in spread or not isinstance(a.comma, cst.Comma):
                # the old call's tail decides; a spread list keeps its own trailing comma
                a = a.with_changes(comma=tail.comma if tail else cst.MaybeSentinel.DEFAULT)
            if tail is not None and not _ws_text(a.whitespace_after_arg):
                a = a.with_changes(whitespace_after_arg=tail.whitespace_after_arg)
        elif not isinstance(a.comma, cst.Comma):
            a = a.with_changes(comma=cst.Comma(whitespace_after=cst.SimpleWhitespace(" ")))
        result.append(a)
    return result
