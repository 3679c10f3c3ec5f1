"""Spec validation errors, and a custom spec for a made-up company runtime."""

from __future__ import annotations

import textwrap
from pathlib import Path

import libcst as cst
import pytest
from libcst.codemod import CodemodContext

from codemods import LegacyToShimCommand, SpecError, load_spec

HEAD = '[spec]\nsource = "acme.aio.core"\ntarget = "shims"\n'


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "spec.toml"
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[names]\nsleep = 'sleep'\n", r"\[spec\] missing table"),
        ('[spec]\nsource = "a.b"\n', r"\[spec.target\] missing required key"),
        (
            '[spec]\nsource = "a b"\ntarget = "shims"\n',
            r"\[spec.source\] is not a valid Python name: 'a b'",
        ),
        (HEAD + "[names]\nsleep = 3\n", r"\[names.sleep\] must be a non-empty string, got 3"),
        (HEAD + "[names]\nsleep = 'a:b:c()'\n", r"target module 'a:b' is not a dotted module name"),
        (HEAD + "[names]\nsleep = 'm:f(x).y'\n", r"\[names.sleep\] target 'm:f\(x\).y' must be"),
        (HEAD + "[names]\nTimeout = 'builtins:a.b'\n", r"a builtin target must be one name"),
        (
            HEAD + "[names]\nsleep = 'await'\n",
            r"\[names.sleep\] target 'await' uses a Python keyword",
        ),
        (HEAD + "[calls.wait]\nparams = ['a']\n", r"\[calls.wait\] missing required key 'target'"),
        (
            HEAD + "[calls.wait]\ntarget = 'g'\nparams = ['a']\n",
            r"'params' and 'args' must be given together",
        ),
        (
            HEAD + "[calls.wait]\ntarget = 'g'\nparams = ['a']\nargs = ['b']\n",
            r"\[calls.wait.args\] 'b' uses 'b', which is not in params",
        ),
        (
            HEAD + "[calls.wait]\ntarget = 'g'\nparams = ['*a', 'b']\nargs = ['b']\n",
            r"'\*a': use names, and '\*rest' only last",
        ),
        (
            HEAD + "[calls.wait]\ntarget = 'g'\ncolour = 1\n",
            r"\[calls.wait\] unknown key\(s\) \['colour'\]",
        ),
        (HEAD + "[names]\nsleep = 's'\n[calls.sleep]\ntarget = 's'\n", r"also listed in \[names\]"),
        (
            HEAD + "[names]\nsleep = 's'\n[keep]\nsleep = 'why'\n",
            r"\[sleep\] is both converted and kept",
        ),
        (HEAD + "[extra]\nx = 1\n", r"unknown table\(s\) \['extra'\]"),
        (
            HEAD + "[calls.run]\ntarget = 'run'\nrequire = { backend = 'asyncio' }\n",
            r"\[calls.run.require.backend\] must be a list of strings",
        ),
        (
            HEAD + "[calls.run]\ntarget = 'run'\nservice_unless = ['backend']\n",
            r"\[calls.run.service_unless\] needs 'service'",
        ),
        (
            HEAD + "[calls.run]\ntarget = 'run'\nservice = 'service name'\n",
            r"\[calls.run.service\] is not a valid Python name: 'service name'",
        ),
        (
            HEAD + "[calls.run]\ntarget = 'run'\nservice = 's'\nservice_unless = ['a-b']\n",
            r"\[calls.run.service_unless\] is not a valid Python name: 'a-b'",
        ),
        ("[spec\nsource=", r"not valid TOML"),
    ],
)
def test_invalid_specs_name_file_key_and_problem(tmp_path: Path, text: str, message: str) -> None:
    path = _write(tmp_path, text)
    with pytest.raises(SpecError, match=message) as info:
        load_spec(path)
    assert str(info.value).startswith(str(path))


def test_missing_spec_file(tmp_path: Path) -> None:
    with pytest.raises(SpecError, match=r"nope\.toml: cannot read the spec"):
        LegacyToShimCommand(CodemodContext(), spec=str(tmp_path / "nope.toml"))


def test_bundled_specs_are_valid() -> None:
    spec = LegacyToShimCommand.load()
    assert (spec.source, spec.target) == ("legacy.runtime", "shims")
    assert spec.rules["wait_all"].target.expr == "gather"
    assert spec.rules["Timeout"].target.module == "builtins"


ACME = """
    [spec]
    description = "ACME's in-house aio core to shims"
    source = "acme.aio.core"
    target = "shims"

    [names]
    nap = "sleep"
    fork = "spawn"
    DeadlineExceeded = "builtins:TimeoutError"

    [calls.join_all]
    target = "gather"
    params = ["first", "*rest"]
    args = ["first", "*rest"]

    [calls.deadline]
    target = "wait_for"
    params = ["work", "ms"]
    args = ["work", "ms"]
    keywords = { tag = "" }

    [keep]
    legacy_decorator = "handled elsewhere"
"""


def test_company_spec_drives_the_same_engine(tmp_path: Path) -> None:
    path = _write(tmp_path, ACME)
    source = textwrap.dedent(
        """\
        from acme.aio import core
        from acme.aio.core import nap as snooze

        @core.legacy_decorator
        async def main(a, b):
            await snooze(1)
            core.fork(a)
            try:
                await core.deadline(b, 5, tag="x")
            except core.DeadlineExceeded:
                pass
            return await core.join_all(a, b)
        """
    )
    expected = textwrap.dedent(
        """\
        from acme.aio import core
        import shims
        from shims import sleep as snooze

        @core.legacy_decorator
        async def main(a, b):
            await snooze(1)
            shims.spawn(a)
            try:
                await shims.wait_for(b, 5)
            except TimeoutError:
                pass
            return await shims.gather(a, b)
        """
    )
    ctx = CodemodContext()
    out = LegacyToShimCommand(ctx, spec=str(path)).transform_module(cst.parse_module(source))
    assert out.code == expected
    assert ctx.warnings == []
    assert LegacyToShimCommand.prefilter(spec=str(path)) == (b"acme",)
