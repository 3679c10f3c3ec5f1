"""Lock, Event and Channel of legacy.runtime, including cancellation of waiters."""

from __future__ import annotations

import pytest

from legacy import runtime


def test_lock_gives_mutual_exclusion_in_fifo_order() -> None:
    order: list[str] = []
    inside = 0

    async def worker(name: str, lock: runtime.Lock) -> None:
        nonlocal inside
        async with lock:
            inside += 1
            assert inside == 1
            order.append(name)
            await runtime.sleep(0.005)
            inside -= 1

    async def main() -> None:
        lock = runtime.Lock()
        await runtime.wait_all([worker(str(i), lock) for i in range(5)])
        assert not lock.locked()

    runtime.run(main)
    assert order == ["0", "1", "2", "3", "4"]


def test_cancelled_lock_waiter_does_not_lose_the_lock() -> None:
    async def main() -> None:
        lock = runtime.Lock()
        await lock.acquire()
        waiter = runtime.spawn(lock.acquire())
        second = runtime.spawn(lock.acquire())
        await runtime.sleep(0)
        lock.release()  # hands the lock to `waiter`...
        waiter.cancel()  # ...which is cancelled before it runs: it must pass it on
        assert await runtime.with_timeout(1.0, second) is True
        assert waiter.cancelled()
        assert lock.locked()
        lock.release()
        assert not lock.locked()

    runtime.run(main)


def test_release_of_unlocked_lock_raises() -> None:
    with pytest.raises(RuntimeError, match="unlocked lock"):
        runtime.Lock().release()


def test_event_wakes_every_waiter() -> None:
    async def main() -> list[bool]:
        event = runtime.Event()
        waiters = [runtime.spawn(event.wait()) for _ in range(3)]
        await runtime.sleep(0)
        assert not any(w.done() for w in waiters)
        event.set()
        results = await runtime.wait_all(waiters)
        assert event.is_set()
        event.clear()
        with pytest.raises(runtime.Timeout):
            await runtime.with_timeout(0.02, event.wait())
        return results

    assert runtime.run(main) == [True, True, True]


def test_channel_put_waits_while_full() -> None:
    log: list[str] = []

    async def producer(channel: runtime.Channel[int]) -> None:
        for i in range(4):
            await channel.put(i)
            log.append(f"put {i}")

    async def main() -> None:
        channel: runtime.Channel[int] = runtime.Channel(2)
        task = runtime.spawn(producer(channel))
        await runtime.sleep(0.01)
        assert log == ["put 0", "put 1"]
        assert channel.full() and channel.qsize() == 2
        assert await channel.get() == 0
        await runtime.sleep(0.01)
        assert log == ["put 0", "put 1", "put 2"]
        assert [await channel.get() for _ in range(3)] == [1, 2, 3]
        await task

    runtime.run(main)


def test_channel_get_waits_and_capacity_zero_is_unbounded() -> None:
    async def main() -> None:
        channel: runtime.Channel[str] = runtime.Channel(0)
        for i in range(1000):
            channel.put_nowait(str(i))
        assert not channel.full()
        for _ in range(1000):
            channel.get_nowait()
        with pytest.raises(runtime.ChannelEmpty):
            channel.get_nowait()
        getter = runtime.spawn(channel.get())
        await runtime.sleep(0.01)
        assert not getter.done()
        await channel.put("late")
        assert await getter == "late"

    runtime.run(main)


def test_channel_full_and_invalid_capacity() -> None:
    with pytest.raises(ValueError, match="-1"):
        runtime.Channel(-1)

    async def main() -> None:
        channel: runtime.Channel[int] = runtime.Channel(1)
        channel.put_nowait(1)
        with pytest.raises(runtime.ChannelFull):
            channel.put_nowait(2)

    runtime.run(main)


def test_cancelled_getter_passes_its_wakeup_on() -> None:
    async def main() -> None:
        channel: runtime.Channel[int] = runtime.Channel(1)
        first = runtime.spawn(channel.get())
        second = runtime.spawn(channel.get())
        await runtime.sleep(0)
        channel.put_nowait(42)  # wakes `first`...
        first.cancel()  # ...which leaves: `second` must get the item
        assert await runtime.with_timeout(1.0, second) == 42
        assert first.cancelled()

    runtime.run(main)


def test_cancelled_putter_frees_its_place_in_line() -> None:
    async def main() -> None:
        channel: runtime.Channel[int] = runtime.Channel(1)
        await channel.put(1)
        blocked = runtime.spawn(channel.put(2))
        await runtime.sleep(0)
        blocked.cancel()
        await runtime.sleep(0)
        assert blocked.cancelled()
        assert await channel.get() == 1
        assert channel.empty()
        await runtime.with_timeout(1.0, channel.put(3))
        assert await channel.get() == 3

    runtime.run(main)
