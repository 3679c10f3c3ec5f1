"""Runtime guardrails: the startup line, the legacy tripwire, fork safety (each in its own process)."""

from __future__ import annotations

import subprocess
import sys
import textwrap

from child_python import python

TRIPWIRE = """
import logging, sys
from prometheus_client import REGISTRY
from legacy import runtime
import shims

logging.basicConfig(level=logging.INFO, stream=sys.stdout, format="%(name)s: %(message)s")

async def main():
    return shims.current_backend()

print("ran on", shims.run(main, service="docs"))

async def leftover():
    return "legacy ran"

try:
    print(runtime.run(leftover))
except shims.ShimError as exc:
    print("refused:", exc)
labels = {"service": "docs", "backend": "asyncio"}
print("entered", REGISTRY.get_sample_value("shims_legacy_entered_total", labels))
print("info", REGISTRY.get_sample_value(
    "shims_backend_info", {**labels, "source": "environment"}))
"""


def test_startup_line_and_info_metric_name_the_backend_and_its_source() -> None:
    proc = python(TRIPWIRE, MIGRATE_BACKEND_DOCS="asyncio")
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    startup = [line for line in lines if line.startswith("shims: backend=")]
    assert startup == [
        "shims: backend=asyncio service=docs source=environment MIGRATE_BACKEND_DOCS"
    ]
    assert "info 1.0" in lines


def test_entering_legacy_in_a_flipped_service_is_logged_and_counted() -> None:
    proc = python(TRIPWIRE, MIGRATE_BACKEND_DOCS="asyncio")
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout
    assert "ran on asyncio" in out and "legacy ran" in out
    assert (
        "shims: legacy.runtime entered in service 'docs', whose backend resolved to 'asyncio' "
        "(environment MIGRATE_BACKEND_DOCS); convert this entry point" in out
    )
    assert "entered 1.0" in out


def test_strict_setting_makes_the_tripwire_an_exception() -> None:
    proc = python(TRIPWIRE, MIGRATE_BACKEND_DOCS="asyncio", MIGRATE_STRICT_BACKEND="1")
    assert proc.returncode == 0, proc.stderr
    assert "legacy ran" not in proc.stdout
    assert "refused: legacy.runtime entered in service 'docs'" in proc.stdout
    assert "(MIGRATE_STRICT_BACKEND=1 forbids it)" in proc.stdout


def test_a_service_on_legacy_enters_legacy_freely() -> None:
    proc = python(TRIPWIRE, MIGRATE_BACKEND_DOCS="legacy", MIGRATE_STRICT_BACKEND="1")
    assert proc.returncode == 0, proc.stderr
    assert "ran on legacy" in proc.stdout and "legacy ran" in proc.stdout
    assert "entered None" in proc.stdout  # never counted: the series was never made


FORK = """
import os, sys
import shims

async def main(backend):
    async def echo(conn):
        while data := await conn.read_some(timeout=10):
            await conn.write(data, timeout=5)

    server = await shims.serve(echo, "127.0.0.1", 0)
    pool = shims.ConnectionPool(lambda: shims.connect("127.0.0.1", server.port, timeout=5))
    async with pool.acquire(timeout=5) as conn:
        await conn.write(b"parent", timeout=5)
        await conn.read_exactly(6, timeout=5)
    parent_conn = conn
    read_fd, write_fd = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: a new backend run, the same pool object
        os.close(read_fd)
        async def child():
            used = parent_conn.closed(), parent_conn.close_reason
            async with pool.acquire(timeout=5) as mine:
                await mine.write(b"child!", timeout=5)
                got = await mine.read_exactly(6, timeout=5)
            return f"{used} fresh={mine is not parent_conn} {got!r} {pool.stats()['opened']}"
        try:
            if backend == "twisted":  # the reactor cannot be restarted in a forked child
                try:
                    shims.run(child, backend="twisted")
                except shims.FlagError as exc:
                    assert "forked" in str(exc), exc
                else:
                    raise AssertionError("twisted ran in a forked child")
                report = shims.run(child, backend="asyncio")
            else:
                report = shims.run(child, backend=backend)
        except BaseException as exc:
            report = repr(exc)
        os.write(write_fd, report.encode())
        os._exit(0)
    os.close(write_fd)
    while True:  # the parent keeps serving while the child runs
        await shims.sleep(0.01)
        done, _ = os.waitpid(pid, os.WNOHANG)
        if done:
            break
    report = os.read(read_fd, 1000).decode()
    async with pool.acquire(timeout=5) as again:  # the parent's connection is intact
        await again.write(b"parent", timeout=5)
        same = again is parent_conn and await again.read_exactly(6, timeout=5) == b"parent"
    await pool.close()
    server.close()
    await server.wait_closed()
    return f"child: {report} | parent reused its own: {same}"

print(shims.run(main, sys.argv[1], backend=sys.argv[1]))
"""


def test_a_forked_child_never_touches_its_parents_sockets(backend: str) -> None:
    proc = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(FORK), backend],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == (
        "child: (True, 'local') fresh=True b'child!' 2 | parent reused its own: True"
    ), proc.stderr
