"""What is special about the twisted backend: the singleton reactor, opt-in, lazy import."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import threading
from pathlib import Path

import pytest
from child_python import python

import shims
import shims.testing

ROOT = Path(__file__).resolve().parents[2]

pytest.importorskip("twisted", reason="pip install 'migrate-toolkit[twisted]'")


def _python(code: str, cwd: Path, **env: str) -> subprocess.CompletedProcess[str]:
    return python(code, cwd=cwd, timeout=120, **env)


async def _where() -> tuple[str, str]:
    await shims.sleep(0)
    return shims.current_backend(), threading.current_thread().name


def test_many_runs_share_one_reactor_thread() -> None:
    seen = {shims.run(_where, backend="twisted") for _ in range(20)}
    assert seen == {("twisted", "shims-twisted-reactor")}


def test_runs_from_other_threads_are_served_one_at_a_time() -> None:
    results: list[tuple[str, str]] = []

    def worker() -> None:
        results.append(shims.run(_where, backend="twisted"))

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert results == [("twisted", "shims-twisted-reactor")] * 4


def test_an_error_and_a_cancellation_of_main_reach_the_caller() -> None:
    async def fails() -> None:
        await shims.sleep(0)
        raise LookupError("from the reactor thread")

    with pytest.raises(LookupError, match="from the reactor thread"):
        shims.run(fails, backend="twisted")

    async def cancels_itself() -> None:
        task = shims.spawn(shims.sleep(5))
        await shims.sleep(0)
        task.cancel()
        await task

    with pytest.raises(shims.CANCELLED):
        shims.run(cancels_itself, backend="twisted")


def test_leftover_tasks_are_cancelled_when_main_returns() -> None:
    seen: list[str] = []

    async def forever() -> None:
        try:
            await shims.sleep(60)
        finally:
            seen.append("cleaned up")

    async def main() -> None:
        shims.spawn(forever())
        await shims.sleep(0.01)

    shims.run(main, backend="twisted")
    assert seen == ["cleaned up"]


def test_a_pytest_run_that_does_not_select_twisted_never_imports_it(tmp_path: Path) -> None:
    (tmp_path / "conftest.py").write_text(
        "import sys\n\n"
        "def pytest_sessionfinish(session):\n"
        "    print('TWISTED IMPORTED' if 'twisted' in sys.modules else 'NO TWISTED')\n"
    )
    (tmp_path / "test_x.py").write_text(
        "import pytest, shims\n\n"
        "@pytest.mark.parity\n"
        "async def test_x(parity):\n"
        "    parity.record('backend', shims.current_backend() != '')\n"
    )
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-s", "-p", "no:cacheprovider", str(tmp_path)],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "NO TWISTED" in proc.stdout
    assert f"{len(shims._registry.parity_defaults())} passed" in proc.stdout
    assert "twisted" not in shims._registry.parity_defaults()


def test_listing_and_resolving_other_backends_never_imports_twisted(tmp_path: Path) -> None:
    code = """
        import sys, shims
        async def main():
            return shims.current_backend()
        assert "twisted" in shims.backends.names()
        print(shims.run(main, backend="asyncio"), "twisted" in sys.modules)
    """
    result = _python(code, tmp_path)
    assert result.stdout.split() == ["asyncio", "False"], result.stderr


def test_flag_naming_twisted_without_twisted_stops_with_one_line(tmp_path: Path) -> None:
    code = """
        import sys
        sys.modules["twisted"] = None  # as if not installed
        import shims
        async def main():
            return 1
        shims.run(main, service="docs")
    """
    result = _python(code, tmp_path, MIGRATE_BACKEND_DOCS="twisted")
    assert result.returncode == 1
    assert result.stderr.strip() == (
        "shims: backend 'twisted' was requested (environment MIGRATE_BACKEND_DOCS) but twisted "
        "is not importable; install it with: pip install 'migrate-toolkit[twisted]'"
    )


def test_a_reactor_started_outside_shims_is_refused_with_one_line(tmp_path: Path) -> None:
    code = """
        import threading, time
        from twisted.internet import reactor
        threading.Thread(
            target=reactor.run, kwargs={"installSignalHandlers": False}, daemon=True
        ).start()
        time.sleep(0.2)
        import shims
        async def main():
            return 1
        shims.run(main, backend="twisted")
    """
    result = _python(code, tmp_path)
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert result.stderr.strip().startswith(
        "shims: backend 'twisted' needs Twisted's reactor, but it was already started"
    )


APP_REACTOR = """
    import gc, sys
    import shims
    from twisted.internet import defer, reactor
    from twisted.python import log

    async def echo(conn):
        await conn.write(await conn.read_exactly(3, timeout=5), timeout=5)

    async def fails():
        raise ValueError("nobody retrieves this")

    async def main():
        server = await shims.serve(echo, "127.0.0.1", 0)
        conn = await shims.connect("127.0.0.1", server.port, timeout=5)
        await conn.write(b"abc", timeout=5)
        echoed = await conn.read_exactly(3, timeout=5)
        conn.close()
        server.close()
        await server.wait_closed()
        fired = []
        shims.call_later(0.01, fired.append, "timer")
        async def bounded():
            try:
                async with shims.timeout(0.01):  # needs a task: a Deferred's coroutine is none
                    await shims.sleep(5)
            except TimeoutError:
                fired.append("timeout")

        await shims.spawn(bounded())
        try:
            shims.run(fails, backend="twisted")
        except RuntimeError as exc:  # nesting: a backend already runs this thread
            fired.append(str(exc).split(";")[0])
        shims.spawn(fails())
        await shims.sleep(0.01)
        gc.collect()
        return [shims.current_backend(), echoed.decode(), *fired]

    def done(result):
        print("RESULT", result)
        reactor.stop()

    log.startLogging(sys.stdout, setStdout=False)
    reactor.callWhenRunning(lambda: defer.ensureDeferred(main()).addBoth(done))
    reactor.run()
"""


def test_a_reactor_the_application_runs_serves_shims_without_shims_run(tmp_path: Path) -> None:
    """twistd, trial or an app's own reactor.run(): code in the reactor's thread uses the shim."""
    result = _python(APP_REACTOR, tmp_path)
    assert result.returncode == 0, result.stderr
    assert (
        "RESULT ['twisted', 'abc', 'timer', 'timeout', "
        "'shims.run() was called from inside a running backend']" in result.stdout
    ), result.stdout
    # A failed task nobody retrieved is logged as Twisted logs a Deferred's unhandled error.
    assert "a shims task failed and nobody retrieved its error" in result.stdout
    assert "ValueError: nobody retrieves this" in result.stdout


def test_a_reactor_imported_and_never_run_or_stopped_serves_nothing(tmp_path: Path) -> None:
    """Importing a Twisted library (which installs the reactor) or a reactor that has stopped
    must not make shims.run on another backend look nested."""
    code = """
        import shims
        from twisted.internet import reactor

        async def main():
            return shims.current_backend()

        print(shims.run(main, backend="asyncio"))  # imported, never run
        reactor.callWhenRunning(reactor.stop)
        reactor.run()
        print(shims.run(main, backend="legacy"))  # stopped for good
    """
    result = _python(code, tmp_path)
    expected = ["asyncio", "legacy"]  # expected value, not a source of names
    assert (result.returncode, result.stdout.split()) == (0, expected), result.stderr


def test_trial_tests_call_the_shim_on_trials_reactor(tmp_path: Path) -> None:
    (tmp_path / "test_uses_shims.py").write_text(
        textwrap.dedent(
            """
            import shims
            from twisted.internet import defer, reactor, task
            from twisted.trial import unittest

            class UsesShims(unittest.TestCase):
                def test_sleep_spawn_and_timer(self):
                    async def body():
                        # trial calls a test before it first runs the reactor: the
                        # reactor serves the shim from its first turn on.
                        await task.deferLater(reactor, 0)
                        fired = []
                        shims.call_later(0, fired.append, 1)
                        await shims.spawn(shims.sleep(0.01))
                        self.assertEqual((shims.current_backend(), fired), ("twisted", [1]))
                    return defer.ensureDeferred(body())

                def test_a_failed_task_nobody_retrieved_fails_the_test(self):
                    async def body():
                        await task.deferLater(reactor, 0)
                        async def fails():
                            raise ValueError("lost")
                        shims.spawn(fails())
                        await shims.sleep(0.01)
                        import gc; gc.collect()
                    return defer.ensureDeferred(body())
            """
        )
    )
    result = subprocess.run(
        [sys.executable, "-m", "twisted.trial", "test_uses_shims"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    out = result.stdout
    assert "test_sleep_spawn_and_timer ... " in out and "[OK]" in out, out
    assert "test_a_failed_task_nobody_retrieved_fails_the_test ... " in out, out
    assert "FAILED (errors=1, successes=1)" in out, out
    assert "ValueError: lost" in out, out


def test_errors_twisted_only_logs_are_reported_as_unhandled() -> None:
    from twisted.python import log

    async def main() -> None:
        log.err(ValueError("raised in a protocol callback"), "a callback failed")
        await shims.sleep(0)

    shims.testing.UNHANDLED.clear()
    shims.run(main, backend="twisted")
    found = [e for e in shims.testing.UNHANDLED if isinstance(e, ValueError)]
    shims.testing.UNHANDLED.clear()
    assert [str(e) for e in found] == ["raised in a protocol callback"]


def test_the_worked_example_uses_only_the_public_api() -> None:
    """docs/backends.md's example imports only ``shims`` and ``shims.backends`` (and Twisted)."""
    import ast

    source = ROOT / "shims" / "backends" / "_bundled" / "twisted.py"
    imported: set[str] = set()
    for node in ast.walk(ast.parse(source.read_text())):
        if isinstance(node, ast.ImportFrom):
            assert node.level == 0, f"relative import in {source.name}: line {node.lineno}"
            imported.add(node.module or "")
        elif isinstance(node, ast.Import):
            imported.update(alias.name for alias in node.names)
    ours = {name for name in imported if name.split(".")[0] in ("shims", "legacy")}
    assert ours == {"shims", "shims.backends"}, ours
    assert all(not part.startswith("_") for name in imported for part in name.split(".")[1:])
