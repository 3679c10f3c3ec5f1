"""Callers keep their Deferreds: the step after converting ``@inlineCallbacks`` functions.

Theory of operation: it runs on the already-converted module, given the
keys (``f``, ``.method``) of the functions that became ``async def``.

- ``wrap_calls``: every call of a converted function that is not the
  operand of ``await`` becomes ``wrapper(call)`` (``defer.ensureDeferred``),
  which runs the coroutine to its first ``await`` at once and returns a
  ``Deferred``, exactly what calling the ``@inlineCallbacks`` function did.
  ``x.m()`` on a receiver the codemod cannot identify, where ``m`` is the
  name of a converted method, becomes ``_deferred_if_coroutine(x.m())``, a
  helper added to the module: a coroutine (``x`` was an instance of ours)
  becomes a Deferred as above, any other result (a Deferred, a value of an
  unrelated ``m``) comes back unchanged, so the call means what it meant.
- ``keep_api``: a converted function chosen by ``_generators.keep`` (a
  framework callback; with the keep-API option every public function)
  keeps returning a ``Deferred``: ``def f(a, b=1): <body>`` becomes ``def
  f(a, b=1): async def f(a, b): <body>; return wrapper(f(a, b))``, the
  coroutine a local closure with the same parameters, so its name,
  signature and docstring stay as they were. Its calls need no wrapping.
- the public converted functions that now return a coroutine are reported
  (a breaking change for callers outside the run).
"""

from __future__ import annotations

import re
from collections.abc import Callable

import libcst as cst
from libcst.codemod import CodemodContext
from libcst.codemod.visitors import AddImportsVisitor, RemoveImportsVisitor
from libcst.metadata import MetadataWrapper, PositionProvider

from .._names import dotted
from .callers import Instances, our_key
from .facts import Facts, FuncFacts
from .keep import public
from .plan import Plan

HELPER_NAME = "_deferred_if_coroutine"
_HELPER = f'''

def {HELPER_NAME}(result):
    """Return a Deferred for a coroutine (what the @inlineCallbacks method returned), else result.

    Added by generators-to-async for calls on receivers it cannot identify.
    """
    if {{inspect}}.iscoroutine(result):
        return {{wrapper}}(result)
    return result
'''


class DeferredCallers:
    """Keep callers of converted functions working: wrap calls, keep or report public APIs.

    ``wrapper`` is the qualified name of the preset's wrapper
    (``twisted.internet.defer.ensureDeferred``); ``refusal`` is set when
    the module has no name to reach it (or the helper) by.
    """

    def __init__(
        self,
        context: CodemodContext,
        tree: cst.Module,
        facts: Facts,
        plan: Plan,
        wrapper: str,
        runner_methods: str = "",
    ) -> None:
        self.context = context
        self.tree = tree
        self.facts = facts
        self.runner = re.compile(runner_methods) if runner_methods else None
        self.refusal: str | None = None
        module, _, name = wrapper.rpartition(".")
        parent, _, short = module.rpartition(".")
        local = facts.imports.local_name_for(module)
        self.add: tuple[str, str] | None = None
        if local is None:
            if facts.imports.is_free_or(short, module) and facts.names[short] == 0:
                local, self.add = short, (parent, short)
            else:
                self.refusal = (
                    f"line 1: converted calls need {module} as {short!r}, a name this module "
                    "uses for something else; rename it first"
                )
                local = short
        self.local = local
        self.expr = dotted(f"{local}.{name}")
        self.by_node = {id(f.node): f for f in plan.converted}
        self.keeps = {key for key in plan.keeps if key in self.by_node}
        self.changed: list[FuncFacts] = []
        self.helper: list[cst.BaseStatement] = []

    def converted(self, original: cst.FunctionDef, node: cst.FunctionDef) -> cst.FunctionDef:
        """Keep a function just made ``async def`` returning a Deferred, or note its public change."""
        func = self.by_node.get(id(original))
        if func is None or node.asynchronous is None:
            return node
        if id(original) in self.keeps:
            return keep_api(node, self.expr)
        if not public(original, func.parent is not None):
            return node
        if func.in_class and self.runner is not None and self.runner.fullmatch(func.name):
            return node  # a test runner calls it and awaits what it returns
        self.changed.append(func)
        return node

    def finish(self, tree: cst.Module, warn: Callable[[str], None]) -> cst.Module:
        """Wrap the calls that are not awaited, add the imports, report public changes.

        Sets ``refusal`` (and returns ``tree`` as it is) when the helper's
        names are taken; ``helper`` holds its statements when it is needed.
        """
        wrapped = [f for key, f in self.by_node.items() if key not in self.keeps]
        keys = frozenset(f.key for f in wrapped)
        methods = frozenset(f.name for f in wrapped)
        helper = dotted(HELPER_NAME)
        tree_after, count, foreign = wrap_calls(tree, keys, self.expr, methods, helper)
        if foreign:
            taken = self._helper_names_taken()
            if taken is not None:
                self.refusal = (
                    f"line 1: calls of converted methods on receivers this run cannot identify "
                    f"need the name {taken!r}, which this module binds to something else; "
                    "rename it first"
                )
                return tree
            inspect = self.facts.imports.local_name_for("inspect")
            if inspect is None:
                inspect = "inspect"
                AddImportsVisitor.add_needed_import(self.context, "inspect")
            code = _HELPER.format(wrapper=cst.Module([]).code_for_node(self.expr), inspect=inspect)
            self.helper = list(cst.parse_module(code).body)
            blank = (cst.EmptyLine(), cst.EmptyLine())
            first = self.helper[0]
            assert isinstance(first, cst.FunctionDef)
            self.helper[0] = first.with_changes(leading_lines=blank)
        tree = tree_after
        if count or foreign or self.keeps:
            if self.add is not None:
                AddImportsVisitor.add_needed_import(self.context, *self.add)
            head = self.local.split(".")[0]
            scheduled = self.context.scratch.get(RemoveImportsVisitor.CONTEXT_KEY, [])
            self.context.scratch[RemoveImportsVisitor.CONTEXT_KEY] = [
                (m, o, a) for m, o, a in scheduled if (a or o or m.split(".")[0]) != head
            ]
        if self.changed:
            positions = MetadataWrapper(self.tree, unsafe_skip_copy=True).resolve(PositionProvider)
            for func in self.changed:
                pos = positions.get(func.node)
                line = pos.start.line if pos is not None else 1
                warn(
                    f"line {line}: public API: {func.name}() now returns a coroutine, not a "
                    "Deferred; callers outside this run must await it or wrap it in "
                    "ensureDeferred (or convert with --keep-api)"
                )
        return tree

    def _helper_names_taken(self) -> str | None:
        imports, names = self.facts.imports, self.facts.names
        if names[HELPER_NAME] or not imports.is_free_or(HELPER_NAME, HELPER_NAME):
            return HELPER_NAME
        if imports.local_name_for("inspect") is None and (
            names["inspect"] or not imports.is_free_or("inspect", "inspect")
        ):
            return "inspect"
        return None


__all__ = ["HELPER_NAME", "DeferredCallers", "keep_api", "wrap_calls"]


class _Wrapper(cst.CSTTransformer):
    def __init__(
        self,
        keys: frozenset[str],
        methods: frozenset[str],
        build: Callable[[cst.BaseExpression, cst.Call], cst.BaseExpression],
        wrapper: cst.BaseExpression,
        helper: cst.BaseExpression | None,
        instances: Instances,
    ) -> None:
        super().__init__()
        self.instances = instances
        self.keys = keys
        self.methods = methods
        self.build = build
        self.wrapper = wrapper
        self.helper = helper
        self.awaited: set[int] = set()
        self.count = 0
        self.foreign = 0

    def visit_Await(self, node: cst.Await) -> None:
        self.awaited.add(id(node.expression))

    def visit_Call(self, node: cst.Call) -> None:
        if _is_wrapper_call(node):
            for arg in node.args:
                self.awaited.add(id(arg.value))

    def leave_Call(self, original_node: cst.Call, updated_node: cst.Call) -> cst.BaseExpression:
        if id(original_node) in self.awaited:
            return updated_node
        key = our_key(original_node, self.instances)
        if key in self.keys:
            self.count += 1
            return self.build(self.wrapper, updated_node)
        func = original_node.func
        if (
            key is None
            and self.helper is not None
            and isinstance(func, cst.Attribute)
            and func.attr.value in self.methods
        ):
            self.foreign += 1
            return self.build(self.helper, updated_node)
        return updated_node


def _is_wrapper_call(node: cst.Call) -> bool:
    func = node.func
    name = func.attr.value if isinstance(func, cst.Attribute) else getattr(func, "value", None)
    return name in ("ensureDeferred", HELPER_NAME)


def wrap_calls(
    module: cst.Module,
    keys: frozenset[str],
    wrapper: cst.BaseExpression,
    methods: frozenset[str] = frozenset(),
    helper: cst.BaseExpression | None = None,
) -> tuple[cst.Module, int, int]:
    """Wrap the calls of converted functions that are not awaited; return (tree, count, foreign).

    A call of a ``keys`` function becomes ``wrapper(call)``; ``x.m()`` on a
    receiver no key names, ``m`` one of ``methods``, becomes ``helper(call)``
    (``foreign`` counts those).
    """

    def build(func: cst.BaseExpression, call: cst.Call) -> cst.BaseExpression:
        inner = call.with_changes(lpar=(), rpar=())
        return cst.Call(func=func, args=[cst.Arg(inner)], lpar=call.lpar, rpar=call.rpar)

    transformer = _Wrapper(keys, methods, build, wrapper, helper, Instances(module))
    result = module.visit(transformer)
    return result, transformer.count, transformer.foreign


def _forward_args(params: cst.Parameters) -> list[cst.Arg]:
    args: list[cst.Arg] = []
    for p in (*params.posonly_params, *params.params):
        args.append(cst.Arg(cst.Name(p.name.value)))
    if isinstance(params.star_arg, cst.Param):
        args.append(cst.Arg(cst.Name(params.star_arg.name.value), star="*"))
    for p in params.kwonly_params:
        args.append(
            cst.Arg(
                cst.Name(p.name.value),
                keyword=cst.Name(p.name.value),
                equal=cst.AssignEqual(
                    whitespace_before=cst.SimpleWhitespace(""),
                    whitespace_after=cst.SimpleWhitespace(""),
                ),
            )
        )
    if params.star_kwarg is not None:
        args.append(cst.Arg(cst.Name(params.star_kwarg.name.value), star="**"))
    return [
        a.with_changes(comma=cst.Comma(whitespace_after=cst.SimpleWhitespace(" ")))
        if i < len(args) - 1
        else a
        for i, a in enumerate(args)
    ]


def _no_defaults(params: cst.Parameters) -> cst.Parameters:
    def strip(ps: tuple[cst.Param, ...] | list[cst.Param]) -> list[cst.Param]:
        return [p.with_changes(default=None, equal=cst.MaybeSentinel.DEFAULT) for p in ps]

    return params.with_changes(
        posonly_params=strip(list(params.posonly_params)),
        params=strip(list(params.params)),
        kwonly_params=strip(list(params.kwonly_params)),
    )


def keep_api(node: cst.FunctionDef, wrapper: cst.BaseExpression) -> cst.FunctionDef:
    """Return the ``async def`` ``node`` as a plain def returning ``wrapper(coroutine)``."""
    body = node.body
    assert isinstance(body, cst.IndentedBlock)
    doc: list[cst.BaseStatement] = []
    rest = list(body.body)
    first = rest[0] if rest else None
    if (
        isinstance(first, cst.SimpleStatementLine)
        and isinstance(first.body[0], cst.Expr)
        and isinstance(first.body[0].value, cst.SimpleString | cst.ConcatenatedString)
    ):
        doc, rest = [first], rest[1:]
    inner = node.with_changes(
        params=_no_defaults(node.params),
        body=body.with_changes(body=rest or [cst.SimpleStatementLine([cst.Pass()])]),
        leading_lines=(),
        returns=None,
    )
    call = cst.Call(func=cst.Name(node.name.value), args=_forward_args(node.params))
    ret = cst.SimpleStatementLine([cst.Return(cst.Call(func=wrapper, args=[cst.Arg(call)]))])
    return node.with_changes(
        asynchronous=None,
        body=body.with_changes(body=[*doc, inner, ret]),
    )
