"""Scheduler semantics of legacy.runtime: run, ordering, timers, cancellation, timeouts, errors."""

from __future__ import annotations

import contextlib
import logging
import time
from typing import Any

import pytest

from legacy import runtime


def test_run_returns_the_result_and_passes_arguments() -> None:
    async def main(a: int, b: int) -> int:
        await runtime.sleep(0)
        return a + b

    assert runtime.run(main, 2, 3) == 5
    assert runtime.run(main(4, 5)) == 9


def test_run_reraises_the_main_exception() -> None:
    async def main() -> None:
        await runtime.sleep(0)
        raise KeyError("boom")

    with pytest.raises(KeyError, match="boom"):
        runtime.run(main)


def test_nested_run_and_scheduler_outside_run_raise() -> None:
    async def inner() -> None:
        pass

    async def main() -> None:
        coro = inner()
        try:
            runtime.run(coro)
        finally:
            coro.close()

    with pytest.raises(RuntimeError, match="already running"):
        runtime.run(main)
    with pytest.raises(RuntimeError, match="no legacy scheduler is running"):
        runtime.get_scheduler()


def test_callbacks_and_tasks_run_in_fifo_order() -> None:
    order: list[str] = []

    async def worker(name: str) -> None:
        order.append(f"{name}-start")
        await runtime.sleep(0)
        order.append(f"{name}-end")

    async def main() -> None:
        sched = runtime.get_scheduler()
        sched.call_soon(order.append, "soon-1")
        runtime.spawn(worker("a"))
        runtime.spawn(worker("b"))
        sched.call_soon(order.append, "soon-2")
        await runtime.sleep(0.01)

    runtime.run(main)
    assert order == ["soon-1", "a-start", "b-start", "soon-2", "a-end", "b-end"]


def test_timers_fire_in_deadline_order_and_never_early() -> None:
    fired: list[tuple[str, float]] = []

    async def main() -> None:
        start = runtime.monotonic()
        sched = runtime.get_scheduler()
        for name, delay in [("c", 0.06), ("a", 0.02), ("b", 0.04), ("b2", 0.04)]:
            sched.call_later(delay, lambda n=name: fired.append((n, runtime.monotonic() - start)))
        cancelled = runtime.call_later(0.01, fired.append, ("never", 0.0))
        cancelled.cancel()
        assert cancelled.cancelled()
        await runtime.sleep(0.1)

    runtime.run(main)
    assert [name for name, _ in fired] == ["a", "b", "b2", "c"]
    for (name, elapsed), delay in zip(fired, [0.02, 0.04, 0.04, 0.06], strict=True):
        assert elapsed >= delay - 0.001, f"timer {name} fired early at {elapsed}"


def test_sleep_lasts_at_least_the_delay_and_returns_the_result() -> None:
    async def main() -> tuple[float, str | None]:
        start = time.monotonic()
        value = await runtime.sleep(0.05, "done")
        return time.monotonic() - start, value

    elapsed, value = runtime.run(main)
    assert elapsed >= 0.049
    assert value == "done"


def test_many_cancelled_timers_are_compacted() -> None:
    async def main() -> int:
        sched = runtime.get_scheduler()
        for _ in range(2000):
            sched.call_later(100, print).cancel()
        return len(sched._timers)

    assert runtime.run(main) < 1000


def test_idle_sleep_does_not_spin_the_cpu() -> None:
    async def main() -> float:
        cpu = time.process_time()
        await runtime.sleep(0.3)
        return time.process_time() - cpu

    assert runtime.run(main) < 0.1


def test_cancel_is_delivered_at_the_await_point_and_finally_sees_it() -> None:
    seen: list[str] = []

    async def victim() -> None:
        try:
            await runtime.sleep(10)
        except runtime.Cancelled:
            seen.append("cancelled")
            raise
        finally:
            seen.append("finally")

    async def main() -> None:
        task = runtime.spawn(victim())
        await runtime.sleep(0.01)
        assert task.cancel() is True
        with pytest.raises(runtime.Cancelled):
            await task
        assert task.cancelled() and task.done()
        assert task.cancel() is False

    runtime.run(main)
    assert seen == ["cancelled", "finally"]


def test_task_cancelled_before_it_started_never_runs() -> None:
    ran: list[bool] = []

    async def body() -> None:
        ran.append(True)

    async def main() -> None:
        task = runtime.spawn(body())
        task.cancel()
        await runtime.sleep(0.01)
        assert task.cancelled()

    runtime.run(main)
    assert ran == []


def test_a_task_may_catch_cancelled_and_go_on() -> None:
    async def stubborn() -> str:
        try:
            await runtime.sleep(10)
        except runtime.Cancelled:
            await runtime.sleep(0.01)
            return "survived"
        return "not cancelled"

    async def main() -> str:
        task = runtime.spawn(stubborn())
        await runtime.sleep(0)
        task.cancel()
        return await task  # type: ignore[no-any-return]

    assert runtime.run(main) == "survived"


def test_cancelling_a_waiting_task_cancels_the_task_it_awaits() -> None:
    async def inner() -> None:
        await runtime.sleep(10)

    async def main() -> None:
        inner_task = runtime.spawn(inner())
        outer = runtime.spawn(_await(inner_task))
        await runtime.sleep(0.01)
        outer.cancel()
        await runtime.sleep(0.01)
        assert outer.cancelled()
        assert inner_task.cancelled()

    runtime.run(main)


async def _await(aw: Any) -> Any:
    return await aw


def test_with_timeout_cancels_the_inner_work_before_raising() -> None:
    events: list[str] = []

    async def slow() -> None:
        try:
            await runtime.sleep(10)
        finally:
            events.append("inner finally")

    async def main() -> None:
        with pytest.raises(runtime.Timeout, match=r"0\.05 seconds") as info:
            await runtime.with_timeout(0.05, slow())
        events.append("timeout raised")
        assert isinstance(info.value, TimeoutError)

    runtime.run(main)
    assert events == ["inner finally", "timeout raised"]


def test_with_timeout_returns_the_result_and_propagates_errors() -> None:
    async def boom() -> None:
        await runtime.sleep(0)
        raise ValueError("inner failure")

    async def main() -> None:
        assert await runtime.with_timeout(1.0, runtime.sleep(0.01, "ok")) == "ok"
        with pytest.raises(ValueError, match="inner failure"):
            await runtime.with_timeout(1.0, boom())

    runtime.run(main)


def test_cancelling_the_caller_of_with_timeout_cancels_the_inner_task() -> None:
    async def main() -> None:
        inner = runtime.spawn(runtime.sleep(10))
        outer = runtime.spawn(runtime.with_timeout(5, inner))
        await runtime.sleep(0.01)
        outer.cancel()
        await runtime.sleep(0.01)
        assert outer.cancelled() and inner.cancelled()

    runtime.run(main)


def test_wait_all_returns_results_in_the_given_order() -> None:
    async def main() -> list[Any]:
        return await runtime.wait_all(
            [runtime.sleep(0.03, "slow"), runtime.sleep(0.01, "fast"), runtime.sleep(0, "now")]
        )

    assert runtime.run(main) == ["slow", "fast", "now"]
    assert runtime.run(runtime.wait_all([])) == []


def test_wait_all_first_error_propagates_and_cancels_the_rest() -> None:
    cleaned: list[str] = []

    async def fails() -> None:
        await runtime.sleep(0.01)
        raise ValueError("first")

    async def slow(name: str) -> None:
        try:
            await runtime.sleep(10)
        finally:
            cleaned.append(name)

    async def main() -> None:
        others = [runtime.spawn(slow("a")), runtime.spawn(slow("b"))]
        with pytest.raises(ValueError, match="first"):
            await runtime.wait_all([others[0], fails(), others[1]])
        await runtime.sleep(0.01)
        assert all(t.cancelled() for t in others)

    runtime.run(main)
    assert sorted(cleaned) == ["a", "b"]


def test_failing_task_does_not_kill_the_scheduler_and_is_reported() -> None:
    reported: list[tuple[BaseException, Any]] = []

    async def bad() -> None:
        await runtime.sleep(0)
        raise RuntimeError("task failure")

    async def main() -> str:
        runtime.get_scheduler().set_exception_handler(lambda e, t: reported.append((e, t)))
        runtime.spawn(bad(), name="bad one")
        runtime.get_scheduler().call_soon(lambda: 1 / 0)
        await runtime.sleep(0.02)
        return "still running"

    assert runtime.run(main) == "still running"
    kinds = sorted(type(exc).__name__ for exc, _ in reported)
    assert kinds == ["RuntimeError", "ZeroDivisionError"]
    task = next(t for exc, t in reported if isinstance(exc, RuntimeError))
    assert task is not None and task.name == "bad one"
    assert next(t for exc, t in reported if isinstance(exc, ZeroDivisionError)) is None


def test_retrieved_failures_are_not_reported_and_default_handler_logs(
    caplog: pytest.LogCaptureFixture,
) -> None:
    async def bad() -> None:
        raise OSError("lost")

    async def main() -> None:
        handled = runtime.spawn(bad())
        runtime.spawn(bad(), name="ignored")
        with pytest.raises(OSError):
            await handled

    with caplog.at_level(logging.ERROR, logger="legacy.runtime"):
        runtime.run(main)
    records = [r for r in caplog.records if r.name == "legacy.runtime"]
    assert len(records) == 1
    assert "ignored" in records[0].getMessage()


def test_run_cancels_leftover_tasks_and_runs_their_finally() -> None:
    cleaned: list[bool] = []

    async def forever() -> None:
        try:
            await runtime.sleep(100)
        finally:
            cleaned.append(True)

    async def main() -> None:
        runtime.spawn(forever())
        await runtime.sleep(0)

    runtime.run(main)
    assert cleaned == [True]


def test_waiting_on_a_future_nobody_completes_is_reported_as_deadlock() -> None:
    async def main() -> None:
        await runtime.get_scheduler().create_future()

    with pytest.raises(RuntimeError, match="deadlock"):
        runtime.run(main)


def test_future_api() -> None:
    async def main() -> None:
        fut = runtime.get_scheduler().create_future()
        got: list[Any] = []
        fut.add_done_callback(lambda f: got.append(f.result()))
        with pytest.raises(RuntimeError, match="no result yet"):
            fut.result()
        runtime.call_later(0.01, fut.set_result, 7)
        assert await fut == 7
        with pytest.raises(RuntimeError, match="already done"):
            fut.set_result(8)
        await runtime.sleep(0)
        assert got == [7]
        failed: runtime.Future[None] = runtime.Future()
        failed.set_exception(KeyError("k"))
        assert isinstance(failed.exception(), KeyError)
        cancelled: runtime.Future[None] = runtime.Future()
        assert cancelled.cancel() and cancelled.cancelled()
        with pytest.raises(runtime.Cancelled):
            await cancelled

    runtime.run(main)


def test_awaiting_something_foreign_raises_a_clear_type_error() -> None:
    class Foreign:
        def __await__(self) -> Any:
            yield "not a legacy future"

    async def main() -> None:
        await Foreign()

    with pytest.raises(TypeError, match="await a legacy Future"):
        runtime.run(main)


def test_current_task_names_the_running_task() -> None:
    async def child() -> runtime.Task[Any] | None:
        return runtime.current_task()

    async def main() -> None:
        task = runtime.spawn(child())
        assert await task is task
        assert runtime.current_task() is not task and runtime.current_task() is not None
        seen: list[Any] = []
        runtime.get_scheduler().call_soon(lambda: seen.append(runtime.current_task()))
        await runtime.sleep(0)
        assert seen == [None]

    runtime.run(main)


def test_call_soon_threadsafe_wakes_a_sleeping_scheduler() -> None:
    import threading

    async def main() -> str:
        sched = runtime.get_scheduler()
        with pytest.raises(RuntimeError, match="enable_threads"):
            sched.call_soon_threadsafe(print)
        sched.enable_threads()
        fut = sched.create_future()
        thread = threading.Thread(
            target=lambda: sched.call_soon_threadsafe(fut.set_result, "from thread")
        )
        thread.start()
        try:
            return await runtime.with_timeout(10.0, fut)  # type: ignore[no-any-return]
        finally:
            thread.join()

    assert runtime.run(main) == "from thread"


def _settle(fut: runtime.Future[Any], value: Any) -> None:
    if not fut.done():
        fut.set_result(value)


def test_reader_and_writer_callbacks_and_stale_registrations() -> None:
    import socket

    async def main() -> None:
        sched = runtime.get_scheduler()
        left, right = socket.socketpair()
        readable = sched.create_future()
        sched.add_reader(left, lambda: _settle(readable, left.recv(10)))
        writable = sched.create_future()
        sched.add_writer(left, lambda: _settle(writable, True))
        assert await runtime.with_timeout(10.0, writable) is True
        assert sched.remove_writer(left) and not sched.remove_writer(left)
        right.send(b"ping")
        assert await runtime.with_timeout(10.0, readable) == b"ping"
        fd = left.fileno()
        left.close()  # closed while still registered for reading...
        assert sched.remove_reader(left)  # ...is still found and unregistered
        assert fd not in sched._fds
        # A closed socket left registered must not break a new socket reusing its fd.
        a, b = socket.socketpair()
        sched.add_reader(a, lambda: None)
        a.close()
        c, d = socket.socketpair()
        got = sched.create_future()
        sched.add_reader(c, lambda: _settle(got, c.recv(10)))
        d.send(b"new")
        assert await runtime.with_timeout(10.0, got) == b"new"
        sched.remove_reader(c)
        for s in (right, b, c, d):
            s.close()

    runtime.run(main)


def test_each_thread_runs_its_own_scheduler() -> None:
    import threading

    results: dict[str, Any] = {}
    both_running = threading.Barrier(2, timeout=10)

    async def main(name: str) -> str:
        sched = runtime.get_scheduler()
        await runtime.sleep(0)
        both_running.wait()  # both schedulers exist at the same time
        await runtime.sleep(0.01)
        assert runtime.get_scheduler() is sched
        return name

    def thread_main(name: str) -> None:
        results[name] = runtime.run(main, name)

    threads = [threading.Thread(target=thread_main, args=(n,)) for n in ("a", "b")]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=20)
    assert results == {"a": "a", "b": "b"}


def test_run_gives_up_on_tasks_that_refuse_to_be_cancelled(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    import legacy._tasks

    monkeypatch.setattr(legacy._tasks, "_SHUTDOWN_GRACE", 0.2)

    async def stubborn() -> None:
        while True:
            with contextlib.suppress(runtime.Cancelled):
                await runtime.sleep(0.05)

    async def main() -> None:
        runtime.spawn(stubborn(), name="stubborn")
        await runtime.sleep(0)

    start = time.monotonic()
    with caplog.at_level(logging.ERROR, logger="legacy.runtime"):
        runtime.run(main)
    assert time.monotonic() - start < 5
    assert "did not finish when cancelled" in caplog.text and "stubborn" in caplog.text


def test_a_thousand_random_timers_fire_in_deadline_order() -> None:
    import random

    rng = random.Random(7)
    delays = [rng.uniform(0, 0.2) for _ in range(1000)]
    fired: list[int] = []

    async def main() -> None:
        sched = runtime.get_scheduler()
        base = sched.time()
        handles = [sched.call_at(base + d, fired.append, i) for i, d in enumerate(delays)]
        for handle in handles[::3]:
            handle.cancel()
        await runtime.sleep(0.3)

    runtime.run(main)
    expected = sorted((i for i in range(1000) if i % 3), key=lambda i: (delays[i], i))
    assert fired == expected
