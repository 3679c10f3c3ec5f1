"""The parity pytest plugin: run marked async tests on every backend and compare them."""

# Theory of operation
# -------------------
# Collection: an ``async def`` test marked ``@pytest.mark.parity`` gets the
# ``parity_backend`` fixture, which pytest_generate_tests parametrizes with
# the selected backends (ids ``test_x[asyncio]``; with other parameters the
# backend comes last, ``test_x[1-asyncio]``).  Items that differ only in the
# backend form a *group*.
# Running: pytest_pyfunc_call runs the coroutine with ``shims.run(...,
# backend=b)``.  Async fixtures the test requests are not run by pytest (it
# refuses them): while a parity item sets up, such a fixture is swapped for a
# sync one returning a ``Deferred``, which is set up and torn down inside the
# backend run, on that backend's loop.  The ``parity`` fixture records values.
# Comparing: when the last item of a group ran, the recordings of every
# backend that passed are compared and a difference fails that last item.
# Teardown: exceptions in ``shims.testing.UNHANDLED`` and connections in
# ``live_connections()`` that appeared during the test fail it.
# Nothing of ``shims`` is imported at module level: this plugin loads in every
# pytest run of every project that installs the toolkit.

from __future__ import annotations

import inspect
from collections.abc import Generator
from dataclasses import dataclass, field
from typing import Any

import pytest

from ._parity_compare import ParityRecorder, describe_mismatch
from ._parity_run import Deferred, backend_problem, default_backends

BACKEND_FIXTURE = "parity_backend"


@dataclass
class _Group:
    members: set[str] = field(default_factory=set)
    seen: set[str] = field(default_factory=set)
    records: dict[str, dict[str, Any]] = field(default_factory=dict)


@dataclass
class _State:
    backends: list[str]
    explicit: bool
    groups: dict[tuple[str, ...], _Group] = field(default_factory=dict)


_STATE = pytest.StashKey[_State]()
_BASELINE = pytest.StashKey[list[Any]]()
_LEAKS = pytest.StashKey[str | None]()
_RECORDER = pytest.StashKey[ParityRecorder]()


# -- options and configuration ---------------------------------------------------


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("shims-parity", "cross-backend parity tests (shims.testing)")
    group.addoption(
        "--backends",
        default=None,
        metavar="NAMES",
        help="comma-separated backends for @pytest.mark.parity tests "
        "(names registered in shims.backends: bundled, from an installed package's "
        "entry point, or added by a plugin); default: every installed one but "
        "opt-in ones such as twisted",
    )


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "parity: run this async test once per shim backend (--backends) and compare "
        "what it records with the parity fixture",
    )
    raw = config.getoption("--backends", None)
    if raw:
        names = [n.strip() for n in str(raw).split(",") if n.strip()]
        if not names:
            raise pytest.UsageError(f"--backends {raw!r} names no backend")
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise pytest.UsageError(f"--backends {raw!r} repeats {', '.join(duplicates)}")
        config.stash[_STATE] = _State(names, explicit=True)
    else:
        config.stash[_STATE] = _State([], explicit=False)  # filled on first use


def _state(config: pytest.Config) -> _State:
    state = config.stash[_STATE]
    if not state.explicit and not state.backends:
        # Late, so backends registered by conftest files and plugins are included.
        state.backends = default_backends()
    return state


def _is_parity(item: pytest.Item) -> bool:
    return isinstance(item, pytest.Function) and item.get_closest_marker("parity") is not None


# -- collection ------------------------------------------------------------------


@pytest.hookimpl(tryfirst=True)
def pytest_pycollect_makeitem(
    collector: pytest.Module | pytest.Class, name: str, obj: object
) -> None:
    """Give parity tests the backend fixture, so pytest_generate_tests can parametrize it."""
    if not collector.istestfunction(obj, name):
        return
    own = [m.name for m in getattr(obj, "pytestmark", ())]
    if "parity" in own or collector.get_closest_marker("parity") is not None:
        pytest.mark.usefixtures(BACKEND_FIXTURE)(obj)


@pytest.hookimpl(trylast=True)
def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if BACKEND_FIXTURE not in metafunc.fixturenames:
        return
    if metafunc.definition.get_closest_marker("parity") is None:
        return
    backends = _state(metafunc.config).backends
    metafunc.parametrize(BACKEND_FIXTURE, backends, ids=backends, indirect=True)


def _group_key(item: pytest.Function) -> tuple[str, ...]:
    """Identify the items that differ only in the backend (same test, same other params)."""
    callspec = getattr(item, "callspec", None)
    if callspec is None:
        return (item.nodeid,)
    backend = str(callspec.params.get(BACKEND_FIXTURE, ""))
    ids = [str(i) for i in getattr(callspec, "_idlist", ())]
    if backend in ids:  # one id per parametrize() call; ours is the backend name
        del ids[len(ids) - 1 - ids[::-1].index(backend)]
        return (item.parent.nodeid if item.parent else "", item.originalname, *ids)
    return (item.nodeid.replace(f"-{backend}]", "]").replace(f"[{backend}]", ""),)


def pytest_collection_finish(session: pytest.Session) -> None:
    state = _state(session.config)
    state.groups.clear()
    for item in session.items:
        if _is_parity(item):
            assert isinstance(item, pytest.Function)
            state.groups.setdefault(_group_key(item), _Group()).members.add(item.nodeid)
    if state.groups and state.explicit:
        for name in state.backends:
            problem = backend_problem(name)
            if problem is not None and problem[0] == "unknown":
                raise pytest.UsageError(problem[1])


# -- fixtures --------------------------------------------------------------------


@pytest.fixture
def parity_backend(request: pytest.FixtureRequest) -> str:
    """The backend this run of a parity test uses (a skip when it is unavailable)."""
    name: str = getattr(request, "param", "")
    if not name:
        pytest.fail(
            f"{request.node.name!r} uses the parity fixtures but is not marked "
            "@pytest.mark.parity; mark it (async def tests only)",
            pytrace=False,
        )
    _check_backend(request.node, name)
    return name


@pytest.fixture
def parity(request: pytest.FixtureRequest, parity_backend: str) -> ParityRecorder:
    """Record observations with ``parity.record(key, value)``; backends must agree."""
    recorder = ParityRecorder(parity_backend)
    request.node.stash[_RECORDER] = recorder
    return recorder


def _name(item: pytest.Item) -> str:
    return getattr(item, "originalname", item.name)


def _check_backend(item: pytest.Item, name: str) -> None:
    """Skip when ``name`` cannot run here; fail on misuse."""
    if item.get_closest_marker("asyncio") is not None:
        pytest.fail(
            f"{_name(item)!r} is marked both parity and asyncio: a parity test runs on each "
            "shim backend itself; remove @pytest.mark.asyncio",
            pytrace=False,
        )
    if not inspect.iscoroutinefunction(getattr(item, "obj", None)):
        pytest.fail(f"{_name(item)!r} is marked parity but is not an async def test", pytrace=False)
    problem = backend_problem(name)
    if problem is not None:
        kind, message = problem
        if kind == "unknown":
            pytest.fail(message, pytrace=False)
        pytest.skip(message)


# -- async fixtures run inside the backend ----------------------------------------


@pytest.hookimpl(wrapper=True)
def pytest_fixture_setup(
    fixturedef: pytest.FixtureDef[Any], request: Any
) -> Generator[None, Any, Any]:
    """Defer a plain async fixture a parity test requests to the backend run."""
    item = getattr(request, "_pyfuncitem", None)
    func = fixturedef.func
    is_async = inspect.iscoroutinefunction(func) or inspect.isasyncgenfunction(func)
    if not is_async or item is None or not _is_parity(item):
        return (yield)
    if getattr(getattr(func, "__func__", func), "_force_asyncio_fixture", False):
        pytest.fail(
            f"parity test {item.name!r} requested the pytest-asyncio fixture "
            f"{fixturedef.argname!r}, which runs on pytest-asyncio's loop, not on the "
            "backend under test; declare it with a plain @pytest.fixture instead",
            pytrace=False,
        )
    if fixturedef.scope != "function":
        pytest.fail(
            f"async fixture {fixturedef.argname!r} has scope {fixturedef.scope!r}: parity "
            "tests run each backend in its own event loop, so the async fixtures they "
            "use must be function-scoped (keep wider-scoped resources in sync fixtures)",
            pytrace=False,
        )
    from _pytest.fixtures import resolve_fixture_function

    resolved = resolve_fixture_function(fixturedef, request)
    name = fixturedef.argname

    def deferred(**kwargs: Any) -> Deferred:
        return Deferred(name, resolved, kwargs)

    original = fixturedef.func
    setattr(fixturedef, "func", deferred)  # noqa: B010  (final attribute, as pytest-asyncio does)
    try:
        return (yield)
    finally:
        setattr(fixturedef, "func", original)  # noqa: B010


# -- running ---------------------------------------------------------------------


def pytest_runtest_setup(item: pytest.Item) -> None:
    if not _is_parity(item):
        return
    assert isinstance(item, pytest.Function)
    group = _state(item.config).groups.get(_group_key(item))
    if group is not None:
        group.seen.add(item.nodeid)
    import shims

    from ._parity_run import baseline

    item.stash[_BASELINE] = baseline(shims)


@pytest.hookimpl(tryfirst=True)
def pytest_pyfunc_call(pyfuncitem: pytest.Function) -> bool | None:
    if not _is_parity(pyfuncitem):
        return None
    import shims

    from ._parity_run import run_parity_test

    backend: str = pyfuncitem.funcargs[BACKEND_FIXTURE]  # type: ignore[assignment]
    testargs = {arg: pyfuncitem.funcargs[arg] for arg in pyfuncitem._fixtureinfo.argnames}
    before = pyfuncitem.stash.get(_BASELINE, [])
    pyfuncitem.stash[_LEAKS] = run_parity_test(shims, backend, pyfuncitem.obj, testargs, before)
    _after_success(pyfuncitem, backend)
    return True


def _after_success(item: pytest.Function, backend: str) -> None:
    """Publish this backend's recordings; compare them once the group's last item ran.

    The recordings also go to ``item.user_properties`` as ``("parity_records",
    {key: repr(value)})``, so a tool running each backend in its own process
    (``migrate parity``, junitxml readers) can compare them across processes.
    """
    recorder = item.stash.get(_RECORDER, None)
    values = dict(recorder.values) if recorder is not None else {}
    item.user_properties.append(("parity_records", {k: repr(v) for k, v in values.items()}))
    group = _state(item.config).groups.get(_group_key(item))
    if group is None:
        return
    group.records[backend] = values
    if group.seen >= group.members and len(group.records) > 1:
        label = item.name.replace(f"-{backend}]", "]").replace(f"[{backend}]", "")
        message = describe_mismatch(label, group.records)
        if message is not None:
            pytest.fail(message, pytrace=False)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_teardown(
    item: pytest.Item, nextitem: pytest.Item | None
) -> Generator[None, None, None]:
    """Fail a parity test that leaked connections or left unhandled exceptions."""
    if not _is_parity(item):
        return (yield)
    try:
        result = yield
    finally:
        leaks = item.stash.get(_LEAKS, None)
        item.stash[_LEAKS] = None
        from ._parity_run import unhandled_report

        problems = [p for p in (leaks, unhandled_report()) if p]
    if problems:
        pytest.fail("\n".join(problems), pytrace=False)
    return result
