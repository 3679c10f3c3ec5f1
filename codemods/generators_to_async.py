"""Convert generator-based coroutines to ``async def``/``await`` (legacy, Tornado, asyncio).

Theory of operation: ``transform_module`` costs one parse (done by the
caller) plus one read-only walk (``_generators.facts``) for every file that passes
``prefilter``; only a file with something to change gets the second,
rewriting walk. ``_generators.plan`` decides per function, from how the file
writes and uses it, whether it becomes ``async def``, stays a generator
under ``@types.coroutine`` (asyncio preset, when a plain generator consumes
it with ``yield from``), or is refused; the transformer below then applies
node actions keyed by ``id()`` of the original nodes. No libcst metadata
provider runs on this path: names are resolved by our own import table,
and line numbers for warnings are computed (``PositionProvider``) only when
there is a warning to print. The result must compile; if it does not, the
file is left untouched and the reason reported.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from dataclasses import replace
from typing import ClassVar, TypeVar, cast

import libcst as cst
from libcst.codemod import Codemod, CodemodContext, VisitorBasedCodemodCommand
from libcst.metadata import MetadataWrapper, PositionProvider

from ._generators import build
from ._generators.checks import ADAPTOR, ADAPTOR_NAME
from ._generators.deferred import DeferredCallers
from ._generators.facts import collect_facts
from ._generators.module import (
    apply_import_changes,
    may_apply,
    rename_asyncio_async,
    schedule_import_changes,
)
from ._generators.plan import Plan, make_plan
from ._generators.presets import PRESETS, get_preset
from ._generators.yields import with_target
from ._names import dotted

__all__ = ["GeneratorsToAsyncCommand"]

_NodeT = TypeVar("_NodeT", bound=cst.CSTNode)


class GeneratorsToAsyncCommand(VisitorBasedCodemodCommand):
    """Rewrite ``@runtime.coroutine``/``@gen.coroutine``/``@asyncio.coroutine`` generators as ``async def``."""

    DESCRIPTION: str = (
        "Convert generator-based coroutines (legacy, tornado, asyncio presets) to async def/await."
    )

    # Set once the first instance showed the class has no matcher decorators.
    _plain_transformer: ClassVar[bool] = False

    def __init__(
        self,
        context: CodemodContext,
        preset: str = "legacy",
        coroutine_decorators: Sequence[str] = (),
        awaitable_returns: str = "refuse",
        keep_api: bool = False,
    ) -> None:
        """Create the command for one file; raise ``ValueError`` for an unknown ``preset``.

        ``coroutine_decorators``: qualified or local names of decorators that
        run the generator they wrap as a coroutine (a test runner's
        ``pytest.mark.run_loop``, a project's ``run_until_complete``); such
        generators become ``async def`` and keep the decorator.
        ``awaitable_returns``: what happens to ``return x`` of a yield-less
        coroutine when ``x`` may or may not be awaitable: ``refuse`` (the
        file stays as it is) or ``check`` (await it at run time if it is
        awaitable, which is what ``asyncio.coroutine`` did).

        ``keep_api`` (presets with a ``wrapper``, e.g. twisted): a converted
        public function keeps returning what the decorated one returned (a
        Deferred), so its callers outside the run are not broken. A framework
        callback (the preset's ``callbacks``) always does.
        """
        if awaitable_returns not in ("refuse", "check"):
            raise ValueError(
                f"awaitable_returns must be 'refuse' or 'check', not {awaitable_returns!r}"
            )
        cls = type(self)
        if cls.__dict__.get("_plain_transformer", False):
            # MatcherDecoratableTransformer.__init__ introspects every attribute
            # of the class for @visit/@leave/matcher decorators on each instance,
            # which costs more than converting a small file. The CLI makes one
            # instance per file, so reuse the first instance's empty result.
            Codemod.__init__(self, context)
            cst.CSTTransformer.__init__(self)
            self._extra_visit_funcs = {}
            self._extra_leave_funcs = {}
            self._matchers = {}
        else:
            super().__init__(context)
            if not (self._extra_visit_funcs or self._extra_leave_funcs or self._matchers):
                cls._plain_transformer = True
        self.preset = get_preset(preset)
        self.coroutine_decorators = frozenset(coroutine_decorators or ())
        self.check_returns = awaitable_returns == "check"
        self.keep_api = keep_api
        self._plan = Plan()
        self._skip: set[int] = set()
        self._deferreds: DeferredCallers | None = None

    @staticmethod
    def add_args(arg_parser: argparse.ArgumentParser) -> None:
        """Declare ``--preset``."""
        arg_parser.add_argument(
            "--preset",
            dest="preset",
            choices=sorted(PRESETS),
            default="legacy",
            help="which generator-coroutine dialect the code is written in (default: legacy)",
        )
        arg_parser.add_argument(
            "--coroutine-decorator",
            dest="coroutine_decorators",
            action="append",
            default=[],
            metavar="NAME",
            help="a decorator (qualified or local name) that runs the generator it wraps as a coroutine; such generators become async def (repeatable)",
        )
        arg_parser.add_argument(
            "--awaitable-returns",
            dest="awaitable_returns",
            choices=("refuse", "check"),
            default="refuse",
            help="asyncio preset, return x of a coroutine without yield when x may be awaitable: refuse the file (default) or await x at run time when it is awaitable",
        )
        arg_parser.add_argument(
            "--keep-api",
            dest="keep_api",
            action="store_true",
            help="twisted: converted public functions keep returning a Deferred "
            "(default: they return a coroutine, and the run lists them)",
        )

    @classmethod
    def prefilter(cls, **options: object) -> tuple[bytes, ...]:
        """Return byte strings one of which a file must contain to need this codemod."""
        return get_preset(str(options.get("preset", "legacy"))).prefilter

    # -- driving --------------------------------------------------------------
    @staticmethod
    def prepare_source(text: str) -> str:
        """Return ``text`` ready to parse: ``asyncio.async`` (a syntax error since 3.7) respelled.

        Runners call this before the parse (``migrate codemod`` does); the
        respelling is kept only when the conversion changes the file.
        """
        return rename_asyncio_async(text)

    def transform_module(self, tree: cst.Module) -> cst.Module:
        """Convert ``tree``; return it unchanged (same object) when nothing applies.

        Unlike the base class this does not deep-copy the module into a
        ``MetadataWrapper`` (this command needs no metadata), and it compiles
        the result: a result that would not compile is dropped and reported.
        """
        wrapper = MetadataWrapper(tree, unsafe_skip_copy=True)
        self.context = replace(self.context, wrapper=wrapper)
        try:
            new_tree = self.transform_module_impl(tree)
        finally:
            self.context = replace(self.context, wrapper=None)
        if new_tree is tree:
            return tree
        adaptor: list[cst.BaseStatement] = []
        if self._plan.adaptor:
            adaptor = list(cst.parse_module(ADAPTOR).body)
            blank = (cst.EmptyLine(), cst.EmptyLine())
            adaptor[0] = cast("cst.FunctionDef", adaptor[0]).with_changes(leading_lines=blank)
        if self._deferreds is not None:
            adaptor.extend(self._deferreds.helper)
        new_tree = apply_import_changes(self.context, new_tree, adaptor)
        try:
            compile(new_tree.code, self.context.filename or "<codemod>", "exec", dont_inherit=True)
        except SyntaxError as exc:
            self.warn(
                f"line {exc.lineno or 1}: the converted file would not compile ({exc.msg}); left unchanged"
            )
            return tree
        return new_tree

    def transform_module_impl(self, tree: cst.Module) -> cst.Module:
        """Plan from one read-only walk, then rewrite only when the plan changes something."""
        preset = self.preset
        if not may_apply(
            tree,
            preset.decorators,
            asyncio_calls=preset.drop_loop_kwarg,
            hints=self.coroutine_decorators,
        ):
            return tree
        facts = collect_facts(tree)
        self._plan = plan = make_plan(
            facts,
            preset,
            self.coroutine_decorators,
            check_returns=self.check_returns,
            module=tree,
            keep_api=self.keep_api,
        )
        self._report(tree, plan)
        if plan.empty():
            return tree
        schedule_import_changes(self.context, facts, plan)
        self._skip = {id(s) for s in tree.body} - plan.tops
        if preset.wrapper is not None:
            self._deferreds = DeferredCallers(
                self.context,
                tree,
                facts,
                plan,
                preset.wrapper,
                preset.runner_methods,
            )
            if self._deferreds.refusal is not None:
                self.warn(self._deferreds.refusal)
                return tree
        result = tree.visit(self)
        if self._deferreds is not None:
            result = self._deferreds.finish(result, self.warn)
            if self._deferreds.refusal is not None:
                self.warn(self._deferreds.refusal)
                return tree
        return result

    def _report(self, tree: cst.Module, plan: Plan) -> None:
        if not plan.warnings:
            return
        positions = MetadataWrapper(tree, unsafe_skip_copy=True).resolve(PositionProvider)

        def line(node: cst.CSTNode) -> int:
            pos = positions.get(node)
            return pos.start.line if pos is not None else 1

        seen: set[str] = set()
        for warning in sorted(plan.warnings, key=lambda w: line(w.node)):
            text = warning.text.format(*(line(ref) for ref in warning.refs))
            message = f"line {line(warning.node)}: {text}"
            if message not in seen:
                seen.add(message)
                self.warn(message)

    # -- rewriting ------------------------------------------------------------
    def _prefix(self) -> str:
        return self._plan.runtime if self.preset.runtime == "legacy" else "asyncio"

    # The class has no matcher decorators (checked on the first instance), so
    # the per-node matcher bookkeeping of MatcherDecoratableTransformer is
    # skipped in favour of plain CSTTransformer dispatch.
    def on_visit(self, node: cst.CSTNode) -> bool:
        """Skip module-level statements that hold no action."""
        if id(node) in self._skip:
            return False
        return cst.CSTTransformer.on_visit(self, node)

    def on_leave(self, original_node: _NodeT, updated_node: _NodeT) -> _NodeT | cst.RemovalSentinel:
        """Dispatch to ``leave_*`` without matcher bookkeeping."""
        result = cst.CSTTransformer.on_leave(self, original_node, updated_node)
        return cast("_NodeT | cst.RemovalSentinel", result)

    def on_visit_attribute(self, node: cst.CSTNode, attribute: str) -> None:
        """Dispatch to ``visit_*_attr`` without matcher bookkeeping."""
        cst.CSTTransformer.on_visit_attribute(self, node, attribute)

    def on_leave_attribute(self, original_node: cst.CSTNode, attribute: str) -> None:
        """Dispatch to ``leave_*_attr`` without matcher bookkeeping."""
        cst.CSTTransformer.on_leave_attribute(self, original_node, attribute)

    def leave_FunctionDef(
        self, original_node: cst.FunctionDef, updated_node: cst.FunctionDef
    ) -> cst.FunctionDef | cst.FlattenSentinel[cst.BaseStatement]:
        if id(original_node) in self._plan.await_aliases:
            alias = cst.parse_statement("__await__ = __iter__\n")
            return cst.FlattenSentinel([updated_node, alias])
        action = self._plan.funcs.get(id(original_node))
        if action is None:
            return updated_node
        if action.decorator is None:
            return updated_node.with_changes(asynchronous=cst.Asynchronous())
        decorators = list(updated_node.decorators)
        removed = decorators[action.decorator]
        if action.kind == "types":
            decorators[action.decorator] = removed.with_changes(decorator=dotted("types.coroutine"))
            return updated_node.with_changes(decorators=decorators)
        del decorators[action.decorator]
        changes: dict[str, object] = {"decorators": decorators}
        if removed.leading_lines:
            if action.decorator < len(decorators):
                following = decorators[action.decorator]
                decorators[action.decorator] = following.with_changes(
                    leading_lines=(*removed.leading_lines, *following.leading_lines)
                )
            else:
                changes["lines_after_decorators"] = (
                    *removed.leading_lines,
                    *updated_node.lines_after_decorators,
                )
        if updated_node.asynchronous is None and action.kind == "async":
            changes["asynchronous"] = cst.Asynchronous()
        result = updated_node.with_changes(**changes)
        if self._deferreds is not None:
            result = self._deferreds.converted(original_node, result)
        return result

    def leave_Yield(self, original_node: cst.Yield, updated_node: cst.Yield) -> cst.BaseExpression:
        action = self._plan.yields.get(id(original_node))
        if action is None:
            return updated_node
        kind, source = action
        value = updated_node.value
        if kind == "delegate":
            assert isinstance(value, cst.From)
            return updated_node.with_changes(
                value=value.with_changes(item=build.dunder_await(value.item))
            )
        if isinstance(value, cst.From):
            return build.await_(value.item, updated_node)
        prefix = self._prefix()
        if kind == "sleep0":
            return build.await_(build.sleep0(prefix), updated_node)
        assert value is not None
        if kind == "await":
            return build.await_(value, updated_node)
        if kind == "wrap_future":
            return build.await_(build.call("asyncio.wrap_future", [cst.Arg(value)]), updated_node)
        if kind == "tornado_sleep":
            assert isinstance(value, cst.Call)
            return build.await_(build.call("asyncio.sleep", value.args), updated_node)
        if source == "multi":
            assert isinstance(value, cst.Call)
            value = value.args[0].value
        if kind == "wait_all":
            return build.await_(build.call(f"{prefix}.wait_all", [cst.Arg(value)]), updated_node)
        if kind in ("gather", "gather_star"):
            return build.await_(build.gather_list(prefix, value), updated_node)
        if kind == "gather_dict":
            assert isinstance(value, cst.Dict)
            return build.gather_dict(prefix, value).with_changes(
                lpar=updated_node.lpar, rpar=updated_node.rpar
            )
        return build.gather_dict_name(prefix, value).with_changes(
            lpar=updated_node.lpar, rpar=updated_node.rpar
        )

    def leave_Expr(
        self, original_node: cst.Expr, updated_node: cst.Expr
    ) -> cst.Expr | cst.Return | cst.RemovalSentinel:
        if id(original_node) in self._plan.remove:
            return cst.RemovalSentinel.REMOVE
        if id(original_node) in self._plan.return_calls:
            # ``returnValue(x)`` -> ``return x`` (checked to be a statement with one argument)
            assert isinstance(updated_node.value, cst.Call)
            value = updated_node.value.args[0].value
            return cst.Return(value=value, semicolon=updated_node.semicolon)
        return updated_node

    def leave_If(
        self, original_node: cst.If, updated_node: cst.If
    ) -> cst.BaseStatement | cst.RemovalSentinel:
        # ``if False: yield`` (only there to make a generator) goes as a whole.
        if id(original_node) in self._plan.dead_ifs and isinstance(
            original_node.body, cst.IndentedBlock
        ):
            smalls = [
                s
                for line in original_node.body.body
                if isinstance(line, cst.SimpleStatementLine)
                for s in line.body
                if isinstance(s, cst.Expr)
            ]
            if all(id(s) in self._plan.remove for s in smalls):
                return cst.RemovalSentinel.REMOVE
        return updated_node

    def leave_Raise(
        self, original_node: cst.Raise, updated_node: cst.Raise
    ) -> cst.Raise | cst.Return:
        if id(original_node) not in self._plan.raises:
            return updated_node
        exc = updated_node.exc
        value: cst.BaseExpression | None = None
        if isinstance(exc, cst.Call) and exc.args:
            value = exc.args[0].value
        return cst.Return(value=value, semicolon=updated_node.semicolon)

    def leave_Return(self, original_node: cst.Return, updated_node: cst.Return) -> cst.Return:
        if id(original_node) in self._plan.return_check and updated_node.value is not None:
            return updated_node.with_changes(value=build.await_if_awaitable(updated_node.value))
        if id(original_node) in self._plan.return_await and updated_node.value is not None:
            return updated_node.with_changes(value=build.await_(updated_node.value))
        return updated_node

    def leave_Call(self, original_node: cst.Call, updated_node: cst.Call) -> cst.BaseExpression:
        action = self._plan.calls.get(id(original_node))
        if action == "current_task":
            func = updated_node.func
            assert isinstance(func, cst.Attribute) and isinstance(func.value, cst.Attribute)
            return updated_node.with_changes(func=func.with_changes(value=func.value.value))
        if action == "drop_loop":
            args = [a for a in updated_node.args if a.keyword is None or a.keyword.value != "loop"]
            if args and updated_node.args[-1] not in args:
                last = updated_node.args[-1]
                args[-1] = args[-1].with_changes(
                    comma=last.comma, whitespace_after_arg=last.whitespace_after_arg
                )
            return updated_node.with_changes(args=args)
        if action == "as_coroutine":
            return updated_node.with_changes(func=cst.Name(ADAPTOR_NAME))
        if action == "ensure_future":
            inner = updated_node.with_changes(lpar=(), rpar=())
            return build.call("asyncio.ensure_future", [cst.Arg(inner)]).with_changes(
                lpar=updated_node.lpar, rpar=updated_node.rpar
            )
        return updated_node

    def leave_With(self, original_node: cst.With, updated_node: cst.With) -> cst.With:
        if id(original_node) not in self._plan.withs:
            return updated_node
        items = []
        for item in updated_node.items:
            assert isinstance(item.item, cst.Yield)
            items.append(item.with_changes(item=with_target(item.item)))
        return updated_node.with_changes(asynchronous=cst.Asynchronous(), items=items)
