"""Pass the service name on: ``run(main)`` -> ``run(main, service="pdf-export")``.

The per-service flag (``shims.run(main, service=...)``) only reaches a
service's entry point when its ``run`` call names the service. A spec rule
with ``service = "<keyword>"`` asks for that keyword; the codemod's
``service`` option supplies the name. The decision is made on the original
call and the new argument is appended to the updated call (after any
reshape), laid out like the arguments already there.
"""

from __future__ import annotations

import libcst as cst

from .reshape import CallRewrite
from .spec import Rule


def plan_service(
    rule: Rule, call: cst.Call | None, shown: str, service: str
) -> CallRewrite | str | None:
    """Return a function appending ``rule.service="<service>"`` to ``call``.

    ``call`` is None for a reference that is not called. Returns None when
    nothing is needed: the call already passes the service keyword, or one of
    ``rule.service_unless`` (after the rule's keyword renames). Returns a
    warning when the name cannot be added: the reference is not called, or
    ``**kwargs`` hides whether the keyword is passed.
    """
    assert rule.service is not None
    if call is None:
        return (
            f"{shown} is used without being called, so it gets no "
            f"{rule.service}={service!r}; add it where it is called"
        )
    if any(a.star == "**" for a in call.args):
        return (
            f"{shown}(**...) may already pass {rule.service}=; add "
            f"{rule.service}={service!r} by hand if it does not"
        )
    fixed = set(rule.params or ())
    passed = {
        rule.keywords.get(a.keyword.value, a.keyword.value)
        for a in call.args
        if a.keyword is not None and a.keyword.value not in fixed
    }
    if passed & {rule.service, *rule.service_unless}:
        return None
    quoted = f'"{service}"' if '"' not in service and "\\" not in service else repr(service)
    arg = cst.Arg(
        keyword=cst.Name(rule.service),
        equal=cst.AssignEqual(
            whitespace_before=cst.SimpleWhitespace(""), whitespace_after=cst.SimpleWhitespace("")
        ),
        value=cst.SimpleString(quoted),
    )

    def apply(updated: cst.Call) -> cst.Call:
        return _append(updated, arg)

    return apply


def _append(call: cst.Call, arg: cst.Arg) -> cst.Call:
    """Return ``call`` with ``arg`` added last, laid out like the arguments before it.

    A multi-line call gets the new argument on its own line, indented like the
    others; a trailing comma stays trailing; a comment after the old last
    argument stays on that argument's line.
    """
    args = list(call.args)
    if not args:
        return call.with_changes(args=[arg])
    last = args[-1]
    trailing = isinstance(last.comma, cst.Comma)
    tail = last.comma.whitespace_after if isinstance(last.comma, cst.Comma) else None
    if tail is None:
        tail = last.whitespace_after_arg
    sep: cst.BaseParenthesizableWhitespace = cst.SimpleWhitespace(" ")
    if len(args) >= 2 and isinstance(args[-2].comma, cst.Comma):
        sep = args[-2].comma.whitespace_after
    elif isinstance(call.whitespace_before_args, cst.ParenthesizedWhitespace):
        sep = call.whitespace_before_args
    end: cst.BaseParenthesizableWhitespace
    if isinstance(tail, cst.ParenthesizedWhitespace) and isinstance(
        sep, cst.ParenthesizedWhitespace
    ):
        # last line break (and its comment) after the old last argument; the
        # new argument's line ends like the old one did, before the ")"
        between: cst.BaseParenthesizableWhitespace = tail.with_changes(
            indent=sep.indent, last_line=sep.last_line
        )
        end = cst.ParenthesizedWhitespace(indent=tail.indent, last_line=tail.last_line)
    else:
        between, end = sep, tail
    if trailing:
        assert isinstance(last.comma, cst.Comma)
        last = last.with_changes(comma=last.comma.with_changes(whitespace_after=between))
        new = arg.with_changes(comma=cst.Comma(whitespace_after=end))
    else:
        last = last.with_changes(
            comma=cst.Comma(whitespace_after=between),
            whitespace_after_arg=cst.SimpleWhitespace(""),
        )
        new = arg.with_changes(whitespace_after_arg=end)
    return call.with_changes(args=[*args[:-1], last, new])


def then(first: CallRewrite | None, second: CallRewrite) -> CallRewrite:
    """Return a plan applying ``first`` (if any), then ``second``."""
    if first is None:
        return second
    return lambda call: second(first(call))
