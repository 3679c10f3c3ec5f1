"""The runtime API behaves the same on every backend (and inside a running asyncio loop)."""

from __future__ import annotations

import gc
import logging
from typing import Any

import pytest

import shims
from shims import testing as _diagnostics

DEADLINE = 10.0


def test_run_returns_result_and_reports_backend(backend: str, caplog: Any) -> None:
    async def main(a: int, b: int) -> tuple[str, int]:
        await shims.sleep(0)
        return shims.current_backend(), a + b

    with caplog.at_level(logging.INFO, logger="shims"):
        assert shims.run(main, 2, 3, backend=backend, service="pdf-export") == (backend, 5)
    lines = [r.getMessage() for r in caplog.records if r.name == "shims"]
    assert lines == [f"backend={backend} service=pdf-export source=argument backend={backend!r}"]


def test_run_reraises_and_refuses_nesting(run: Any) -> None:
    async def fails() -> None:
        raise KeyError("boom")

    with pytest.raises(KeyError, match="boom"):
        run(fails)

    async def nests() -> None:
        with pytest.raises(RuntimeError, match="inside a running backend"):
            shims.run(fails, backend="asyncio")

    run(nests)


def test_unknown_backend_is_a_flag_error() -> None:
    async def main() -> None:
        raise AssertionError("must not run")

    with pytest.raises(shims.FlagError, match="'tokio'"):
        shims.run(main, backend="tokio")


def test_current_backend_outside_run_raises() -> None:
    with pytest.raises(RuntimeError, match=r"shims\.run"):
        shims.current_backend()


def test_spawn_gather_and_ordering(run: Any) -> None:
    async def main() -> None:
        order: list[str] = []

        async def worker(name: str, delay: float) -> str:
            await shims.sleep(delay)
            order.append(name)
            return name.upper()

        task = shims.spawn(worker("a", 0.02))
        assert not task.done()
        results = await shims.gather(worker("b", 0.04), task, worker("c", 0.0))
        assert results == ["B", "A", "C"]
        assert order == ["c", "a", "b"]
        assert task.done() and task.result() == "A"
        assert await shims.gather() == []

    run(main)


def test_gather_first_error_propagates_others_keep_running(run: Any) -> None:
    async def main() -> None:
        finished: list[str] = []

        async def slow() -> str:
            await shims.sleep(0.05)
            finished.append("slow")
            return "slow"

        async def bad() -> None:
            raise ValueError("bad")

        slow_task = shims.spawn(slow())
        with pytest.raises(ValueError, match="bad"):
            await shims.gather(slow_task, bad())
        assert await slow_task == "slow" and finished == ["slow"]
        results = await shims.gather(slow(), bad(), return_exceptions=True)
        assert results[0] == "slow" and isinstance(results[1], ValueError)

    run(main)


def test_cancel_is_seen_by_finally_and_reported_by_task(run: Any) -> None:
    async def main() -> None:
        cleaned: list[bool] = []

        async def sleeper() -> None:
            try:
                await shims.sleep(DEADLINE)
            finally:
                cleaned.append(True)

        task = shims.spawn(sleeper())
        await shims.sleep(0.01)
        assert task.cancel()
        with pytest.raises(shims.CANCELLED):
            await task
        assert task.cancelled() and task.done() and cleaned == [True]

    run(main)


def test_wait_for_and_timeout_raise_builtin_timeout_error(run: Any) -> None:
    async def main() -> None:
        cleaned: list[str] = []

        async def slow() -> str:
            try:
                await shims.sleep(DEADLINE)
            finally:
                cleaned.append("wait_for")
            return "late"

        with pytest.raises(TimeoutError) as info:
            await shims.wait_for(slow(), 0.05)
        assert type(info.value) is TimeoutError
        assert cleaned == ["wait_for"]
        assert await shims.wait_for(shims.sleep(0), 1.0) is None
        assert await shims.wait_for(shims.sleep(0), None) is None

        start = shims.monotonic()
        with pytest.raises(TimeoutError) as block_info:
            async with shims.timeout(0.05):
                await shims.sleep(DEADLINE)
        assert type(block_info.value) is TimeoutError
        assert shims.monotonic() - start < DEADLINE / 2
        async with shims.timeout(1.0):
            await shims.sleep(0)
        async with shims.timeout(None):
            await shims.sleep(0)

    run(main)


def test_call_later_runs_and_cancels(run: Any) -> None:
    async def main() -> None:
        fired = shims.Event()
        calls: list[int] = []

        def cb(value: int) -> None:
            calls.append(value)
            fired.set()

        shims.call_later(0.5, cb, 2).cancel()
        shims.call_later(0.01, cb, 1)
        await shims.wait_for(fired.wait(), DEADLINE)
        await shims.sleep(0.6)
        assert calls == [1]

    run(main)


def test_lock_is_fifo_and_survives_cancellation(run: Any) -> None:
    async def main() -> None:
        lock = shims.Lock()
        order: list[int] = []

        async def user(i: int) -> None:
            async with lock:
                order.append(i)
                await shims.sleep(0.005)

        await lock.acquire()
        tasks = [shims.spawn(user(i)) for i in range(4)]
        await shims.sleep(0.01)
        tasks[1].cancel()
        lock.release()
        await shims.gather(*tasks, return_exceptions=True)
        assert order == [0, 2, 3] and not lock.locked()
        with pytest.raises(RuntimeError):
            lock.release()

    run(main)


def test_event_and_queue_backpressure(run: Any) -> None:
    async def main() -> None:
        event = shims.Event()
        waiters = [shims.spawn(event.wait()) for _ in range(3)]
        await shims.sleep(0)
        assert not any(w.done() for w in waiters)
        event.set()
        assert await shims.gather(*waiters) == [True, True, True]

        queue: shims.Queue[int] = shims.Queue(2)
        await queue.put(1)
        await queue.put(2)
        assert queue.full()
        putter = shims.spawn(queue.put(3))
        await shims.sleep(0.01)
        assert not putter.done()
        assert await queue.get() == 1
        await shims.wait_for(putter, DEADLINE)
        assert [await queue.get(), await queue.get()] == [2, 3] and queue.empty()
        unbounded: shims.Queue[int] = shims.Queue()
        for i in range(1000):
            await unbounded.put(i)
        assert unbounded.qsize() == 1000

    run(main)


def test_unretrieved_task_failure_lands_in_unhandled(run: Any) -> None:
    async def main() -> None:
        async def fails() -> None:
            raise LookupError("nobody looked")

        shims.spawn(fails())
        await shims.sleep(0.01)
        gc.collect()
        await shims.sleep(0.01)

    run(main)
    found = [e for e in _diagnostics.UNHANDLED if isinstance(e, LookupError)]
    _diagnostics.UNHANDLED.clear()
    assert len(found) == 1


@pytest.mark.asyncio
async def test_works_inside_a_running_asyncio_loop() -> None:
    assert shims.current_backend() == "asyncio"

    async def echo(conn: shims.Connection) -> None:
        await conn.write(await conn.read_exactly(3, timeout=DEADLINE), timeout=DEADLINE)

    async with await shims.serve(echo, "127.0.0.1", 0) as server:
        conn = await shims.connect("127.0.0.1", server.port, timeout=DEADLINE)
        await conn.write(b"abc", timeout=DEADLINE)
        assert await conn.read_exactly(3, timeout=DEADLINE) == b"abc"
        conn.close()


def test_run_accepts_a_coroutine_object(backend: str) -> None:
    async def main(x: int) -> int:
        await shims.sleep(0)
        return x * 2

    assert shims.run(main(21), backend=backend) == 42
    with pytest.raises(shims.FlagError):
        shims.run(main(1), backend="nope")  # closed, so no "never awaited" warning


def test_wakeup_handed_to_a_cancelled_waiter_is_passed_on(run: Any) -> None:
    async def main() -> None:
        queue: shims.Queue[int] = shims.Queue()
        first, second = shims.spawn(queue.get()), shims.spawn(queue.get())
        await shims.sleep(0.01)
        await queue.put(7)  # wakes `first`...
        first.cancel()  # ...which is cancelled before it runs: the item must go to `second`
        assert await shims.wait_for(second, DEADLINE) == 7
        assert first.cancelled() and queue.empty()

        lock = shims.Lock()
        await lock.acquire()
        got: list[str] = []

        async def take(name: str) -> None:
            async with lock:
                got.append(name)

        a, b = shims.spawn(take("a")), shims.spawn(take("b"))
        await shims.sleep(0.01)
        lock.release()  # hands the lock to `a`...
        a.cancel()  # ...cancelled before it runs: `b` must get the lock
        await shims.wait_for(b, DEADLINE)
        assert got == ["b"] and a.cancelled() and not lock.locked()

    run(main)


def test_a_task_that_cancels_itself_is_cancelled_at_its_next_await(run: Any) -> None:
    async def inner() -> str:
        shims.backends.get(shims.current_backend()).current_task().cancel()  # type: ignore[union-attr]
        try:
            await shims.sleep(0)
        except shims.CANCELLED:
            return "cancelled at the next await"
        return "not cancelled"

    async def main() -> str:
        return await shims.spawn(inner())

    assert run(main) == "cancelled at the next await"
