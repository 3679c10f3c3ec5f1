"""generators-to-async end to end: convert small programs and run them in a subprocess.

The legacy program runs on ``legacy.runtime`` before and after conversion
and must print the same thing. ``@asyncio.coroutine`` no longer exists on
Python 3.11 and Tornado is not a dependency, so those programs are run
after conversion only, under plain asyncio, against their known output;
the Tornado one would deadlock (and time out) if "start several, then yield
each" had lost its concurrency.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

from test_generators_to_async import run_codemod

LEGACY_PROGRAM = """
from legacy import runtime


@runtime.coroutine
def worker(name, delay, lock):
    print("start", name)
    yield runtime.sleep(delay)
    yield lock.acquire()
    try:
        print("locked", name)
        yield  # let the others run while holding the lock
        print("unlocking", name)
    finally:
        lock.release()
    return name.upper()


@runtime.coroutine
def constant():
    if False:
        yield
    return 7


@runtime.coroutine
def passthrough():
    return 5


@runtime.coroutine
def main():
    lock = runtime.Lock()
    a, b = yield [worker("a", 0.02, lock), worker("b", 0.01, lock)]
    print("results", a, b)
    task = runtime.spawn(worker("c", 0, lock))
    c = yield task
    seven = yield constant()
    five = yield passthrough()

    def squares(n):
        for i in range(n):
            yield i * i

    print("squares", list(squares(4)))
    try:
        yield runtime.with_timeout(0.01, runtime.sleep(5))
    except runtime.Timeout:
        print("timed out")
    pair = yield (constant(), passthrough())
    return [a, b, c, seven, five, pair]


print("main ->", runtime.run(main))
"""

ASYNCIO_PROGRAM = """
import asyncio


@asyncio.coroutine
def produce(queue, n, loop):
    for i in range(n):
        yield from queue.put(i)
        yield
    yield from queue.put(None)


@asyncio.coroutine
def consume(queue, lock, seen):
    while True:
        item = yield from queue.get()
        if item is None:
            return len(seen)
        with (yield from lock):
            seen.append(item)


@asyncio.coroutine
def delayed(value, loop):
    return asyncio.sleep(0.01, result=value, loop=loop)


@asyncio.coroutine
def _step():
    yield from asyncio.sleep(0)
    return "stepped"


class Stepper:
    def __await__(self):
        return (yield from _step())


@asyncio.coroutine
def main(loop):
    queue = asyncio.Queue(2, loop=loop)
    lock = asyncio.Lock(loop=loop)
    seen = []
    _, count = yield from asyncio.gather(
        produce(queue, 5, loop), consume(queue, lock, seen), loop=loop
    )
    print("consumed", count, seen)
    value = yield from delayed(42, loop)
    print("delayed", value)
    print("stepper", (yield from Stepper()))
    value = yield from asyncio.wait_for(delayed(7, loop), 10, loop=loop)
    print("wait_for", value)
    return "done"


def run():
    loop = asyncio.new_event_loop()
    try:
        print("main ->", loop.run_until_complete(main(loop)))
    finally:
        loop.close()


run()
"""

ASYNCIO_OUTPUT = """\
consumed 5 [0, 1, 2, 3, 4]
delayed 42
stepper stepped
wait_for 7
main -> done
"""

TORNADO_PROGRAM = """
import asyncio
from concurrent.futures import ThreadPoolExecutor

from tornado import gen

EXECUTOR = ThreadPoolExecutor(1)


@gen.coroutine
def fetch(name, started, gate):
    started.append(name)
    if len(started) == 2:
        gate.set()
    yield gate.wait()
    yield gen.moment
    raise gen.Return(name.upper())


@gen.coroutine
def square(x):
    yield gen.sleep(0.001)
    raise gen.Return(x * x)


@gen.coroutine
def main():
    started, gate = [], asyncio.Event()
    fa = fetch("a", started, gate)
    fb = fetch("b", started, gate)
    ra = yield fa
    rb = yield fb
    print("concurrent", ra, rb, started)
    squares = yield [square(i) for i in range(4)]
    named = yield {"two": square(2), "three": square(3)}
    print("gathered", squares, named)
    total = yield EXECUTOR.submit(sum, [1, 2, 3])
    print("executor", total)
    yield
    raise gen.Return("done")


print("main ->", asyncio.run(asyncio.wait_for(main(), 30)))
EXECUTOR.shutdown()
"""

TORNADO_OUTPUT = """\
concurrent A B ['a', 'b']
gathered [0, 1, 4, 9] {'two': 4, 'three': 9}
executor 6
main -> done
"""


def _convert(source: str, preset: str, expected_warnings: int = 0) -> str:
    tree, out, warnings = run_codemod(textwrap.dedent(source), preset)
    assert len(warnings) == expected_warnings, warnings
    assert out is not tree
    return out.code


def _run(tmp_path: Path, name: str, code: str) -> subprocess.CompletedProcess[str]:
    path = tmp_path / name
    path.write_text(code, encoding="utf-8")
    return subprocess.run(
        [sys.executable, "-X", "dev", "-W", "error", str(path)],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=tmp_path,
        check=False,
    )


def test_legacy_program_prints_the_same_before_and_after(tmp_path: Path) -> None:
    converted = _convert(LEGACY_PROGRAM, "legacy")
    assert "@runtime.coroutine" not in converted
    assert converted.count("async def") == 4
    before = _run(tmp_path, "before.py", LEGACY_PROGRAM)
    after = _run(tmp_path, "after.py", converted)
    assert before.returncode == 0, before.stderr
    assert after.returncode == 0, after.stderr
    assert "main -> ['A', 'B', 'C', 7, 5, [7, 5]]" in before.stdout
    assert after.stdout == before.stdout
    assert after.stderr == before.stderr == ""


def test_asyncio_program_runs_under_plain_asyncio_after_conversion(tmp_path: Path) -> None:
    before = _run(tmp_path, "before.py", ASYNCIO_PROGRAM)
    assert before.returncode != 0  # asyncio.coroutine is gone from Python 3.11
    assert "coroutine" in before.stderr
    converted = _convert(ASYNCIO_PROGRAM, "asyncio")
    assert "loop=loop)" not in converted.replace("new_event_loop()", "")
    assert "yield from _step().__await__()" in converted
    assert "async with lock:" in converted
    after = _run(tmp_path, "after.py", converted)
    assert after.returncode == 0, after.stderr
    assert after.stdout == ASYNCIO_OUTPUT
    assert after.stderr == ""


def test_tornado_program_runs_under_plain_asyncio_after_conversion(tmp_path: Path) -> None:
    converted = _convert(TORNADO_PROGRAM, "tornado")
    assert "tornado" not in converted
    after = _run(tmp_path, "after.py", converted)
    assert after.returncode == 0, after.stderr
    assert after.stdout == TORNADO_OUTPUT
    assert after.stderr == ""
