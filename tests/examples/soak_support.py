"""The soak tests' driver: bounded load from N client loops, then a bounded drain."""

from __future__ import annotations

import collections
from collections.abc import Awaitable, Callable, Sequence

import shims


async def soak(
    client: Callable[[int], Awaitable[None]],
    *,
    clients: int,
    duration: float,
    drain_deadline: float,
    stop: Callable[[], object],
    counts: collections.Counter[str],
    background: Sequence[Callable[[], Awaitable[None]]] = (),
) -> None:
    """Run ``client(n)`` for n in range(clients) and the ``background`` tasks for ``duration``.

    Then call ``stop()`` (which must make every task return) and wait at most
    ``drain_deadline`` seconds for all of them; past that, count
    ``"drain timed out"`` and cancel them, so a hang fails the test instead
    of stalling the run.
    """
    tasks = [shims.spawn(client(n)) for n in range(clients)]
    tasks += [shims.spawn(task()) for task in background]
    await shims.sleep(duration)
    stop()
    try:
        await shims.wait_for(shims.gather(*tasks), drain_deadline)
    except TimeoutError:
        counts["drain timed out"] += 1
        for task in tasks:
            task.cancel()
