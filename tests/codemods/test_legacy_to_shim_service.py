"""legacy-to-shim ``service=``: converted run() calls name the service, so its own flag applies."""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import libcst as cst
import pytest
from libcst.codemod import CodemodContext, CodemodTest

from codemods import LegacyToShimCommand, ShimToAsyncioCommand


class TestWithoutService(CodemodTest):
    TRANSFORM = LegacyToShimCommand

    def test_run_gets_no_service(self) -> None:
        before = """
            from legacy import runtime
            from legacy.runtime import run as start

            f = runtime.run
            runtime.run(main)
            start(main, 1)
        """
        after = """
            import shims
            from shims import run as start

            f = shims.run
            shims.run(main)
            start(main, 1)
        """
        self.assertCodemod(before, after, expected_warnings=[])

    def test_explicit_none_is_the_default(self) -> None:
        before = "from legacy import runtime\nruntime.run(main)\n"
        after = "import shims\nshims.run(main)\n"
        self.assertCodemod(before, after, service=None, expected_warnings=[])


class TestWithService(CodemodTest):
    TRANSFORM = LegacyToShimCommand

    def test_every_import_form_gets_the_service(self) -> None:
        forms = {
            "from legacy import runtime": "runtime.run",
            "from legacy import runtime as rt": "rt.run",
            "import legacy.runtime": "legacy.runtime.run",
            "import legacy.runtime as rt": "rt.run",
        }
        for imp, call in forms.items():
            with self.subTest(imp=imp):
                self.assertCodemod(
                    f"{imp}\n\n{call}(main)\n",
                    'import shims\n\nshims.run(main, service="pdf-export")\n',
                    service="pdf-export",
                    expected_warnings=[],
                )

    def test_aliased_from_import(self) -> None:
        before = """
            from legacy.runtime import run as start

            if __name__ == "__main__":
                start(main, "--verbose")
        """
        after = """
            from shims import run as start

            if __name__ == "__main__":
                start(main, "--verbose", service="pdf-export")
        """
        self.assertCodemod(before, after, service="pdf-export", expected_warnings=[])

    def test_from_import_same_name(self) -> None:
        before = "from legacy.runtime import run\n\nrun(main)\n"
        after = 'from shims import run\n\nrun(main, service="api")\n'
        self.assertCodemod(before, after, service="api", expected_warnings=[])

    def test_call_already_passing_service_or_backend_is_left_alone(self) -> None:
        before = """
            from legacy import runtime

            runtime.run(main, service="other")
            runtime.run(main, service=name)
            runtime.run(main, backend="asyncio")
            runtime.run(main)
        """
        after = """
            import shims

            shims.run(main, service="other")
            shims.run(main, service=name)
            shims.run(main, backend="asyncio")
            shims.run(main, service="pdf-export")
        """
        self.assertCodemod(before, after, service="pdf-export", expected_warnings=[])

    def test_only_run_gets_it(self) -> None:
        before = """
            from legacy import runtime

            async def main():
                runtime.spawn(job())
                await runtime.sleep(1)
                await runtime.connect("h", 1)
        """
        after = """
            import shims

            async def main():
                shims.spawn(job())
                await shims.sleep(1)
                await shims.connect("h", 1)
        """
        self.assertCodemod(before, after, service="pdf-export", expected_warnings=[])

    def test_idempotent_with_the_same_service(self) -> None:
        # get_scheduler is refused, so the legacy import stays and the second
        # run really scans the file again.
        before = """
            from legacy import runtime

            def main():
                runtime.get_scheduler()

            runtime.run(main)
        """
        after = """
            from legacy import runtime
            import shims

            def main():
                runtime.get_scheduler()

            shims.run(main, service="pdf-export")
        """
        refused = (
            "line {}: legacy.runtime.get_scheduler is not converted: the shim has no "
            "scheduler object; use shims.call_later / shims.monotonic"
        )
        self.assertCodemod(
            before, after, service="pdf-export", expected_warnings=[refused.format(4)]
        )
        self.assertCodemod(
            after, after, service="pdf-export", expected_warnings=[refused.format(5)]
        )

    def test_service_name_is_quoted_safely(self) -> None:
        before = "from legacy import runtime\nruntime.run(main)\n"
        self.assertCodemod(
            before,
            "import shims\nshims.run(main, service='we\"ird')\n",
            service='we"ird',
            expected_warnings=[],
        )

    def test_uncalled_and_double_star_are_converted_and_reported(self) -> None:
        before = """
            from legacy import runtime

            entry = functools.partial(runtime.run, main)
            runtime.run(main, **options)
        """
        after = """
            import shims

            entry = functools.partial(shims.run, main)
            shims.run(main, **options)
        """
        self.assertCodemod(
            before,
            after,
            service="pdf-export",
            expected_warnings=[
                "line 3: legacy.runtime.run is used without being called, so it gets no "
                "service='pdf-export'; add it where it is called",
                "line 4: legacy.runtime.run(**...) may already pass service=; add "
                "service='pdf-export' by hand if it does not",
            ],
        )


class TestLayout(CodemodTest):
    TRANSFORM = LegacyToShimCommand

    def test_layouts(self) -> None:
        cases = [
            ("runtime.run(main, 1, 2 )", 'shims.run(main, 1, 2, service="s" )'),
            ("runtime.run(main,)", 'shims.run(main, service="s",)'),
            ("runtime.run(a,b)", 'shims.run(a,b,service="s")'),
            ("runtime.run()", 'shims.run(service="s")'),
            (
                "runtime.run(\n        main,  # entry\n    )",
                '\n        main,  # entry\n        service="s",\n    )',
            ),
            (
                "runtime.run(\n        main\n    )",
                '\n        main,\n        service="s"\n    )',
            ),
            (
                "runtime.run(\n        main, a,\n        b)",
                '\n        main, a,\n        b,\n        service="s")',
            ),
            (
                "runtime.run(\n        main,\n        b\n    )",
                '\n        main,\n        b,\n        service="s"\n    )',
            ),
            ("runtime.run(main, *args)", 'shims.run(main, *args, service="s")'),
        ]
        for call, expected in cases:
            if expected.startswith("\n"):
                expected = "shims.run(" + expected
            with self.subTest(call=call):
                before = f"from legacy import runtime\n\ndef f():\n    {call}\n"
                after = f"import shims\n\ndef f():\n    {expected}\n"
                self.assertCodemod(before, after, service="s", expected_warnings=[])


def test_rejects_a_bad_service_name() -> None:
    for bad in ("", " api", "a\nb", "tab\there"):
        with pytest.raises(ValueError, match=r"service must be a service name .*got "):
            LegacyToShimCommand(CodemodContext(), service=bad)


def test_prefilter_accepts_service_and_ignores_it() -> None:
    assert LegacyToShimCommand.prefilter(service="pdf-export") == (b"legacy",)
    assert LegacyToShimCommand.prefilter(service="pdf-export", spec=None) == (
        LegacyToShimCommand.prefilter()
    )


def test_add_args_exposes_service() -> None:
    parser = argparse.ArgumentParser()
    LegacyToShimCommand.add_args(parser)
    args = parser.parse_args(["--service", "pdf-export", "--spec", "x.toml"])
    assert (args.service, args.spec) == ("pdf-export", "x.toml")
    assert parser.parse_args([]).service is None


# --- a company spec opts in ---------------------------------------------------------------------

ACME = """\
[spec]
source = "acme.aio"
target = "shims"

[calls.boot]
target = "run"
params = ["argv", "main"]
args = ["main", "argv"]
keywords = { svc = "service", loop = "backend" }
service = "service"
service_unless = ["backend"]

[calls.launch]
target = "run"
"""


def _acme(tmp_path: Path, code: str, service: str | None) -> tuple[str, list[str]]:
    spec = tmp_path / "acme.toml"
    spec.write_text(ACME, encoding="utf-8")
    ctx = CodemodContext(filename="svc.py")
    cmd = LegacyToShimCommand(ctx, spec=str(spec), service=service)
    return cmd.transform_module(cst.parse_module(code)).code, ctx.warnings


def test_company_spec_service_after_reshape_and_renamed_keywords(tmp_path: Path) -> None:
    code = textwrap.dedent(
        """\
        from acme import aio

        aio.boot(sys.argv, main)
        aio.boot(sys.argv, main, svc="x")
        aio.boot(sys.argv, main, loop="asyncio")
        aio.launch(main)
        """
    )
    out, warnings = _acme(tmp_path, code, "billing")
    assert warnings == []
    assert out == textwrap.dedent(
        """\
        import shims

        shims.run(main, sys.argv, service="billing")
        shims.run(main, sys.argv, service="x")
        shims.run(main, sys.argv, backend="asyncio")
        shims.run(main)
        """
    )
    # without a service name the same spec adds nothing
    assert 'service="billing"' not in _acme(tmp_path, code, None)[0]


def test_bundled_spec_run_rule_takes_the_service() -> None:
    rule = LegacyToShimCommand.load().rules["run"]
    assert (rule.service, rule.service_unless) == ("service", ("backend",))
    assert ShimToAsyncioCommand.load().rules["run"].service is None


# --- end to end: the converted entry point follows its service's flag ----------------------------

ENTRY = """\
import shims
from legacy import runtime


async def main():
    print("backend", shims.current_backend())


if __name__ == "__main__":
    runtime.run(main)
"""


def _run_entry(tmp_path: Path, code: str) -> str:
    (tmp_path / "entry.py").write_text(code, encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if not k.startswith("MIGRATE_")}
    done = subprocess.run(
        [sys.executable, "entry.py"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def test_flipped_service_flag_reaches_the_converted_entry_point(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text(
        '[tool.migrate.services.pdf-export]\nbackend = "asyncio"\n', encoding="utf-8"
    )
    ctx = CodemodContext(filename="entry.py")
    named = LegacyToShimCommand(ctx, service="pdf-export").transform_module(cst.parse_module(ENTRY))
    assert ctx.warnings == []
    assert 'shims.run(main, service="pdf-export")' in named.code
    assert _run_entry(tmp_path, named.code) == "backend asyncio"
    # the reported problem: without the service name the flag is not seen
    unnamed = LegacyToShimCommand(CodemodContext()).transform_module(cst.parse_module(ENTRY))
    assert _run_entry(tmp_path, unnamed.code) == "backend legacy"
    # and the final step drops service= again
    final = ShimToAsyncioCommand(CodemodContext()).transform_module(named)
    assert "asyncio.run(main())" in final.code and "service" not in final.code
