"""The projects the real-code harness converts: pinned versions and how to run their suites.

Each entry is data only. ``deselect`` lists, with the reason, tests that
change server-global settings (never run against the shared servers) and
tests that assert behaviour of the old Python itself (shown to pass on the
converted code under the newest Python that still has that behaviour); the
harness passes them to pytest as ``--deselect`` before and after, so no
file of the project is edited by hand. ``coroutine_decorators`` names the
decorators of the project's own test tooling that run plain generators as
coroutines (``pytest.mark.run_loop`` and the like): they are options of the
codemod (``--coroutine-decorator``), exactly what a user would pass, as are
``awaitable_returns`` and ``keep_api``. ``must_convert`` names the library
modules the conversion must actually change (a refused file is left as it
was, and the "after" suite would then test the original).
"""

from __future__ import annotations

from dataclasses import dataclass, field

__all__ = ["PROJECTS", "Project"]

# One pytest for both sides: 5.4 is the newest that still runs the
# ``pytest.Function(name, parent=...)`` collection hooks of that era's
# conftest files, and runs on 3.11 with plain asserts.
PYTEST = ("pytest==5.4.3", "pytest-timeout==1.4.2")


@dataclass(frozen=True)
class Project:
    """One project: where its suite lives, what it needs, how to run it."""

    name: str
    version: str
    tests: tuple[str, ...]  # test files or directories, relative to the sdist root
    deps: tuple[str, ...] = ()
    deps_before: tuple[str, ...] | None = None  # when the older Python needs older wheels
    before: str = "3.9"  # newest Python where the unconverted suite still runs
    after: str = "3.11"
    runner: str = "pytest"  # or "unittest", or "trial" (Twisted's)
    preset: str = "asyncio"  # the generators-to-async preset the project is written for
    env: dict[str, str] = field(default_factory=dict)
    deselect: tuple[tuple[str, str], ...] = ()  # (pytest node id, why)
    coroutine_decorators: tuple[str, ...] = ()
    awaitable_returns: str = "refuse"  # codemod option --awaitable-returns
    keep_api: bool = False  # codemod option --keep-api (public functions keep their return type)
    # Library files (not tests) the conversion must change with no refusal:
    # the "after" suite then runs the converted library, not the original.
    must_convert: tuple[str, ...] = ()
    services: tuple[str, ...] = ()  # "mariadb", "redis-server" (a binary the suite starts)
    timeout: int = 60  # seconds per test file (what passed before a hang still counts)
    test_timeout: int = 10  # seconds per test (pytest-timeout), so one hang costs one test


PROJECTS: tuple[Project, ...] = (
    Project(
        # An @inlineCallbacks Redis client; its trial suite talks to the shared
        # Redis at 127.0.0.1:6379 (it only uses keys of its own).
        name="txredisapi",
        version="1.6.0",
        tests=("tests",),
        before="3.11",
        after="3.11",
        runner="trial",
        preset="twisted",
        deps=("twisted[tls]==26.10.0",),
        # A library: its public methods keep returning Deferreds (its own
        # ConnectionHandler dispatches to them by name, through getattr).
        keep_api=True,
        must_convert=("txredisapi.py",),
    ),
    Project(
        name="aiomysql",
        version="0.0.9",
        tests=("tests",),
        before="3.8",  # its pool does ``with (yield from self._cond)``, gone in 3.9
        deps=(*PYTEST, "PyMySQL==0.7.11", "SQLAlchemy==1.3.24", "uvloop==0.17.0"),
        env={
            "MYSQL_HOST": "127.0.0.1",
            "MYSQL_USER": "root",
            "MYSQL_PASSWORD": "",
            "MYSQL_DB": "realcode_aiomysql",
            "OTHER_MYSQL_DB": "realcode_aiomysql2",
        },
        deselect=(
            (
                "tests/test_pool.py::test_drop_connection_if_timedout",
                "SET GLOBAL wait_timeout on the shared server",
            ),
        ),
        coroutine_decorators=("pytest.mark.run_loop", "run_until_complete"),
        services=("mariadb",),
    ),
    Project(
        name="aioredis",
        version="0.3.5",
        tests=("tests",),
        before="3.6",  # ``asyncio.async`` in its source is a syntax error from 3.7 on
        # Its conftest defines ``pytest_namespace`` (gone in pytest 4); 3.10
        # still runs on 3.11 with plain asserts.
        # setup.cfg asks for pytest-cov's options.
        deps=("pytest==3.10.1", "pytest-timeout==1.4.2", "pytest-cov==2.8.1", "hiredis==2.3.2"),
        deps_before=(
            "pytest==3.10.1",
            "pytest-timeout==1.4.2",
            "pytest-cov==2.8.1",
            "hiredis==2.0.0",
        ),
        coroutine_decorators=("pytest.mark.run_loop",),
        # ``return commands_factory(conn)``: a factory parameter may return an
        # awaitable; the user's decision is asyncio.coroutine's run-time test.
        awaitable_returns="check",
        deselect=(
            (
                "tests/locks_test.py::test_finished_waiter_cancelled",
                "aioredis.locks.Lock passes loop= to asyncio.Lock, gone in Python 3.10 (the "
                "library's own API, not a generator coroutine)",
            ),
        ),
        # Its conftest starts private servers, but cannot read the version of
        # redis-server 7, so its server tests skip on both sides.
        services=("redis-server",),
    ),
    Project(
        name="websockets",
        version="3.4",
        tests=("websockets",),
        before="3.6",  # ``asyncio.async`` in its source is a syntax error from 3.7 on
        deps=PYTEST,
        deselect=(
            *(
                (
                    f"websockets/test_client_server.py::ClientServerTests::{name}",
                    "asserts CancelledError is an Exception (true before Python 3.8); the "
                    "converted code passes it on 3.7",
                )
                for name in (
                    "test_server_shuts_down_during_connection_handling",
                    "test_server_shuts_down_during_opening_handshake",
                )
            ),
            *(
                (
                    f"websockets/test_protocol.py::{side}::{name}",
                    "a 1 ms timing race: fails now and then on the unconverted code under 3.6 too",
                )
                for side in ("ClientTests", "ServerTests")
                for name in (
                    "test_remote_close_race_with_failing_connection",
                    "test_close_handshake_timeout",
                )
            ),
        ),
    ),
    Project(
        name="janus",
        version="0.3.0",
        tests=("tests",),
        before="3.6",  # ``asyncio.async`` in its source is a syntax error from 3.7 on
        deps=PYTEST,
    ),
    Project(
        name="aiorwlock",
        version="0.4.0",
        tests=("tests",),
        before="3.8",  # its tests call asyncio.Task.current_task, gone in 3.9
        deps=PYTEST,
        coroutine_decorators=("pytest.mark.run_loop",),
    ),
)
