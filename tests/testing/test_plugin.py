"""The parity plugin, driven through pytester on generated test files (in subprocesses)."""

from __future__ import annotations

import textwrap

import pytest

INI = """
[pytest]
asyncio_mode = strict
asyncio_default_fixture_loop_scope = function
addopts = -p no:cacheprovider --strict-markers
filterwarnings = error
"""

ECHO_SERVER = """
import pytest, shims

@pytest.fixture
async def server():
    async def handler(conn):
        try:
            data = await conn.read_some(timeout=5)
            await conn.write(data, timeout=5)
        finally:
            conn.close()
    srv = await shims.serve(handler, "127.0.0.1", 0)
    yield srv
    srv.close()
    await srv.wait_closed()
"""


def run(pytester: pytest.Pytester, source: str, *args: str) -> pytest.RunResult:
    pytester.makeini(INI)
    pytester.makepyfile(test_generated=textwrap.dedent(source))
    return pytester.runpytest_subprocess("-rA", *args, timeout=120)


def test_runs_once_per_backend_with_ids(pytester: pytest.Pytester) -> None:
    result = run(
        pytester,
        """
        import pytest, shims

        @pytest.mark.parity
        async def test_x(parity_backend):
            assert shims.current_backend() == parity_backend

        @pytest.mark.parity
        @pytest.mark.parametrize("n", [1, 2])
        async def test_p(n):
            await shims.sleep(0)
        """,
        "-v",
    )
    result.assert_outcomes(passed=9)
    result.stdout.fnmatch_lines(
        [
            "*::test_x[[]legacy[]] PASSED*",
            "*::test_x[[]asyncio[]] PASSED*",
            "*::test_x[[]uvloop[]] PASSED*",
            "*::test_p[[]1-legacy[]] PASSED*",
            "*::test_p[[]2-uvloop[]] PASSED*",
        ]
    )


def test_backends_option_selects_and_orders(pytester: pytest.Pytester) -> None:
    result = run(
        pytester,
        """
        import pytest

        @pytest.mark.parity
        async def test_x():
            pass
        """,
        "-v",
        "--backends",
        "asyncio,legacy",
    )
    result.assert_outcomes(passed=2)
    result.stdout.fnmatch_lines(["*test_x[[]asyncio[]] PASSED*", "*test_x[[]legacy[]] PASSED*"])
    result.stdout.no_fnmatch_line("*uvloop*")


def test_unknown_backend_is_an_error_naming_it(pytester: pytest.Pytester) -> None:
    result = run(
        pytester,
        """
        import pytest

        @pytest.mark.parity
        async def test_x():
            pass
        """,
        "--backends",
        "asyncio,asynco",
    )
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*unknown backend 'asynco' in --backends; choose from*"])


def test_unavailable_backend_is_a_skip_with_the_reason(pytester: pytest.Pytester) -> None:
    pytester.makeconftest("import sys\nsys.modules['uvloop'] = None  # as if not installed\n")
    source = """
        import pytest

        @pytest.mark.parity
        async def test_x():
            pass
        """
    result = run(pytester, source, "--backends", "uvloop,asyncio")
    result.assert_outcomes(passed=1, skipped=1)
    result.stdout.fnmatch_lines(["SKIPPED*uvloop is not installed: pip install*"])
    default = run(pytester, source, "-v")  # default: every installed backend
    default.assert_outcomes(passed=2)
    default.stdout.no_fnmatch_line("*uvloop*")


def test_differing_recordings_fail_the_last_backend(pytester: pytest.Pytester) -> None:
    result = run(
        pytester,
        """
        import pytest, shims

        @pytest.mark.parity
        async def test_differs(parity):
            parity.record("same", b"bytes")
            parity.record("flavour", shims.current_backend() == "legacy")

        @pytest.mark.parity
        async def test_missing_key(parity):
            if shims.current_backend() == "asyncio":
                parity.record("extra", 1)
        """,
        "--backends",
        "legacy,asyncio",
    )
    result.assert_outcomes(passed=2, failed=2)
    result.stdout.fnmatch_lines(
        [
            "FAILED *test_differs[[]asyncio[]]*",
            "FAILED *test_missing_key[[]asyncio[]]*",
        ]
    )
    result.stdout.fnmatch_lines(
        [
            "parity mismatch in test_differs between backends legacy, asyncio*",
            "  key 'flavour': legacy=True, asyncio=False",
        ]
    )
    result.stdout.fnmatch_lines(["  key 'extra': legacy=<not recorded>, asyncio=1"])
    result.stdout.no_fnmatch_line("*key 'same'*")


def test_equal_recordings_pass_and_params_compare_separately(pytester: pytest.Pytester) -> None:
    result = run(
        pytester,
        """
        import pytest, shims

        @pytest.mark.parity
        @pytest.mark.parametrize("n", [1, 2])
        async def test_equal(parity, n):
            await shims.sleep(0.001)
            parity.record("n", n)
            parity.record("type", type(TimeoutError()).__name__)
        """,
    )
    result.assert_outcomes(passed=6)


def test_recording_a_key_twice_is_an_error(pytester: pytest.Pytester) -> None:
    result = run(
        pytester,
        """
        import pytest

        @pytest.mark.parity
        async def test_twice(parity):
            parity.record("k", 1)
            parity.record("k", 2)
        """,
        "--backends",
        "asyncio",
    )
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*parity key 'k' was already recorded on asyncio (value 1)*"])


def test_coexists_with_pytest_asyncio_strict(pytester: pytest.Pytester) -> None:
    result = run(
        pytester,
        """
        import asyncio
        import pytest, pytest_asyncio, shims

        @pytest_asyncio.fixture
        async def aio_value():
            await asyncio.sleep(0)
            return 42

        @pytest.mark.asyncio
        async def test_plain_asyncio(aio_value):
            assert aio_value == 42
            assert asyncio.get_running_loop() is not None

        @pytest.mark.parity
        async def test_parity(parity):
            parity.record("ok", True)

        class TestInAClass:
            @pytest.mark.asyncio
            async def test_asyncio_method(self):
                await asyncio.sleep(0)

            @pytest.mark.parity
            async def test_parity_method(self, parity):
                parity.record("ok", True)
        """,
        "-v",
    )
    result.assert_outcomes(passed=8)
    result.stdout.fnmatch_lines(["*::test_plain_asyncio PASSED*"])


def test_misuse_fails_with_a_clear_message(pytester: pytest.Pytester) -> None:
    result = run(
        pytester,
        """
        import pytest, pytest_asyncio

        @pytest_asyncio.fixture
        async def aio_value():
            return 42

        @pytest.mark.parity
        async def test_wants_asyncio_fixture(aio_value):
            pass

        @pytest.mark.parity
        @pytest.mark.asyncio
        async def test_both_marks():
            pass

        @pytest.mark.parity
        def test_sync():
            pass

        def test_parity_fixture_unmarked(parity):
            pass
        """,
        "--backends",
        "asyncio",
    )
    result.assert_outcomes(errors=4)
    result.stdout.fnmatch_lines(
        [
            "*requested the pytest-asyncio fixture 'aio_value'*plain @pytest.fixture*",
            "*marked both parity and asyncio*",
            "*'test_sync' is marked parity but is not an async def test*",
            "*uses the parity fixtures but is not marked @pytest.mark.parity*",
        ],
        consecutive=False,
    )


def test_async_fixtures_run_on_each_backend(pytester: pytest.Pytester) -> None:
    result = run(
        pytester,
        ECHO_SERVER
        + """
import os
import shims
LOG = []

@pytest.fixture
def sync_value():
    return "sync"

@pytest.fixture
async def token(sync_value):
    await shims.sleep(0)
    return f"{sync_value}-{shims.current_backend()}"

@pytest.fixture
async def client(server, token):
    conn = await shims.connect("127.0.0.1", server.port, timeout=5)
    LOG.append(f"up {token}")
    yield conn
    conn.close()
    LOG.append(f"down {token}")

@pytest.mark.parity
async def test_echo(client, server, token, parity_backend, parity):
    assert token == f"sync-{parity_backend}"
    await client.write(b"hi", timeout=5)
    parity.record("echo", await client.read_exactly(2, timeout=5))

def test_fixtures_were_torn_down():
    assert LOG == [f"{w} sync-{b}" for b in shims._registry.parity_defaults() for w in ("up", "down")]
""",
    )
    result.assert_outcomes(passed=4)


def test_wider_scoped_async_fixture_is_refused(pytester: pytest.Pytester) -> None:
    result = run(
        pytester,
        """
        import pytest

        @pytest.fixture(scope="module")
        async def shared():
            return 1

        @pytest.mark.parity
        async def test_x(shared):
            pass
        """,
        "--backends",
        "asyncio",
    )
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(["*async fixture 'shared' has scope 'module'*function-scoped*"])


def test_leaks_and_unhandled_exceptions_fail_at_teardown(pytester: pytest.Pytester) -> None:
    result = run(
        pytester,
        ECHO_SERVER
        + """
@pytest.mark.parity
async def test_leaks_a_connection(server):
    conn = await shims.connect("127.0.0.1", server.port, timeout=5)

@pytest.mark.parity
async def test_forgets_a_failed_task():
    async def boom():
        raise ValueError("nobody awaited me")
    shims.spawn(boom())
    await shims.sleep(0.05)

@pytest.mark.parity
async def test_clean(server):
    conn = await shims.connect("127.0.0.1", server.port, timeout=5)
    conn.close()
""",
        "--backends",
        "legacy,asyncio",
    )
    result.assert_outcomes(passed=6, errors=4)
    result.stdout.fnmatch_lines(
        [
            "*ERROR at teardown of test_leaks_a_connection[[]legacy[]]*",
            "*1 connection(s) still open when the test ended on legacy*",
        ]
    )
    result.stdout.fnmatch_lines(
        [
            "*ERROR at teardown of test_forgets_a_failed_task[[]asyncio[]]*",
            "*1 unhandled exception(s)*",
            "*ValueError: nobody awaited me*",
        ]
    )


def test_marker_is_registered(pytester: pytest.Pytester) -> None:
    pytester.makeini(INI)
    result = pytester.runpytest_subprocess("--markers")
    result.stdout.fnmatch_lines(["@pytest.mark.parity: run this async test once per shim backend*"])


CUSTOM_BACKEND_PLUGIN = '''
import asyncio

import shims.testing
from shims.testing import record_unhandled

RAN_ON = []


class CompanyLoop(asyncio.SelectorEventLoop):
    """Stands in for a company's own event loop implementation."""


def run_on_company_loop(main):
    with asyncio.Runner(loop_factory=CompanyLoop) as runner:
        loop = runner.get_loop()
        loop.set_exception_handler(lambda loop, ctx: record_unhandled(ctx["exception"]))
        RAN_ON.append(type(loop).__name__)
        return runner.run(main())


shims.testing.register_backend("company", run_on_company_loop)
'''


def test_conformance_suite_runs_on_a_registered_backend(pytester: pytest.Pytester) -> None:
    pytester.makeini(INI)
    pytester.makepyfile(company_parity=CUSTOM_BACKEND_PLUGIN)
    result = pytester.runpytest_subprocess(
        "--pyargs",
        "shims.testing.conformance",
        "-p",
        "company_parity",
        "--backends",
        "company,asyncio",
        "-k",
        "idle_peer_fin or accepted_connection or on_close_runs_on_peer",
        "-v",
        timeout=120,
    )
    result.assert_outcomes(passed=8)
    result.stdout.fnmatch_lines(["*test_idle_peer_fin_makes_closed_true[[]company[]] PASSED*"])


def test_register_backend_refuses_builtin_and_duplicate_names() -> None:
    from shims import _registry
    from shims.testing import register_backend

    def runner(main: object) -> None:
        raise AssertionError("never run")

    with pytest.raises(ValueError, match="'asyncio' is a built-in backend"):
        register_backend("asyncio", runner)
    with pytest.raises(ValueError, match="commas"):
        register_backend("a,b", runner)
    try:
        register_backend("scratch", runner)
        with pytest.raises(ValueError, match="'scratch' is already registered"):
            register_backend("scratch", runner)
        register_backend("scratch", runner, replace=True)
    finally:
        _registry.unregister("scratch")


def test_recordings_are_published_as_user_properties(pytester: pytest.Pytester) -> None:
    pytester.makeconftest(
        """
        def pytest_runtest_logreport(report):
            if report.when == "call":
                print("PROPS", report.nodeid, dict(report.user_properties))
        """
    )
    result = run(
        pytester,
        """
        import pytest

        @pytest.mark.parity
        async def test_x(parity):
            parity.record("reason", "peer")
            parity.record("n", 3)
        """,
        "--backends",
        "asyncio",
        "-s",
    )
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(
        ["*PROPS *test_x[[]asyncio[]] {'parity_records': {'reason': \"'peer'\", 'n': '3'}}"]
    )
