"""Convert a small program written against legacy.runtime, run every version, compare output.

Chain: original (legacy.runtime.run) -> legacy-to-shim (shims.run on the
asyncio backend) -> shim-to-asyncio (plain asyncio.run). Each version runs in
its own interpreter, so import-time state never leaks between them.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import libcst as cst
from libcst.codemod import Codemod, CodemodContext

from codemods import LegacyToShimCommand, ShimToAsyncioCommand

SAMPLE = textwrap.dedent(
    '''\
    """A small service written against the in-house runtime."""

    from legacy import runtime
    from legacy.runtime import Channel, wait_all as all_of


    async def producer(q, n):
        for i in range(n):
            await q.put(i)
            await runtime.sleep(0.001)
        await q.put(None)


    async def consumer(q, out):
        while True:
            item = await q.get()
            if item is None:
                return len(out)
            out.append(item * item)


    async def double(x):
        await runtime.sleep(0)
        return 2 * x


    async def slow():
        await runtime.sleep(30)


    async def main():
        q = Channel(capacity=2)
        out = []
        results = await all_of([producer(q, 5), consumer(q, out)])
        print("results", results, out)
        try:
            await runtime.with_timeout(0.05, slow())
        except runtime.Timeout:
            print("timed out")
        fired = []
        done = runtime.Event()
        runtime.call_later(0.01, fired.append, "tick")
        runtime.call_later(0.02, done.set)
        await done.wait()
        print("fired", fired, done.is_set())
        lock = runtime.Lock()
        async with lock:
            print("locked", lock.locked())
        task = runtime.spawn(double(21))
        print("task", await task)
        start = runtime.monotonic()
        await runtime.sleep(0.01)
        print("clock moves", runtime.monotonic() - start > 0)
        tasks = [double(i) for i in range(3)]
        print("gather", await runtime.wait_all(tasks))
        return "ok"
    '''
)


def _convert(cls: type[Codemod], code: str) -> str:
    ctx = CodemodContext(filename="service.py")
    out = cls(ctx).transform_module(cst.parse_module(code))  # type: ignore[call-arg]
    assert ctx.warnings == []
    return out.code


def _run(tmp_path: Path, name: str, code: str, runner: str) -> str:
    (tmp_path / f"{name}.py").write_text(code, encoding="utf-8")
    env = {**os.environ, "PYTHONPATH": str(tmp_path)}
    env.pop("MIGRATE_BACKEND", None)
    script = f"import {name} as service\n{runner}"
    done = subprocess.run(
        [sys.executable, "-c", script],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


EXPECTED = [
    "results [None, 5] [0, 1, 4, 9, 16]",
    "timed out",
    "fired ['tick'] True",
    "locked True",
    "task 42",
    "clock moves True",
    "gather [0, 2, 4]",
    "result ok",
]


def test_sample_converts_completely() -> None:
    shimmed = _convert(LegacyToShimCommand, SAMPLE)
    assert "legacy" not in shimmed
    final = _convert(ShimToAsyncioCommand, shimmed)
    assert "shims" not in final
    assert "import asyncio" in final and "asyncio.gather(*tasks)" in final


def test_original_and_fully_converted_print_the_same(tmp_path: Path) -> None:
    original = _run(
        tmp_path,
        "original",
        SAMPLE,
        "from legacy import runtime\nprint('result', runtime.run(service.main))",
    )
    assert original.splitlines() == EXPECTED
    final = _convert(ShimToAsyncioCommand, _convert(LegacyToShimCommand, SAMPLE))
    converted = _run(
        tmp_path, "final", final, "import asyncio\nprint('result', asyncio.run(service.main()))"
    )
    assert converted == original


def test_shim_version_on_asyncio_prints_the_same(tmp_path: Path) -> None:
    original = _run(
        tmp_path,
        "original",
        SAMPLE,
        "from legacy import runtime\nprint('result', runtime.run(service.main))",
    )
    shimmed = _convert(LegacyToShimCommand, SAMPLE)
    converted = _run(
        tmp_path,
        "shimmed",
        shimmed,
        "import shims\nprint('result', shims.run(service.main, backend='asyncio'))",
    )
    assert converted == original
    on_legacy = _run(
        tmp_path,
        "shimmed2",
        shimmed,
        "import shims\nprint('result', shims.run(service.main, backend='legacy'))",
    )
    assert on_legacy == original
