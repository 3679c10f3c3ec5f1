"""Switchable faults that close connections (FIN): max_lifetime, close_after_bytes, idle_timeout."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ._base import Fault, non_negative

if TYPE_CHECKING:
    from .._proxy_pair import Direction, Pair


class MaxLifetime(Fault):
    """Close each connection ``seconds`` after it opened, like a DB proxy."""

    def __init__(self, seconds: float | None) -> None:
        self.seconds = None if seconds is None else non_negative("seconds", seconds)

    def enabled(self) -> bool:
        return self.seconds is not None

    def on_tick(self, pair: Pair, now: float) -> None:
        assert self.seconds is not None
        deadline = pair.opened_at + self.seconds
        if now >= deadline:
            pair.close("fin", "max_lifetime")
        else:
            pair.wake(deadline)


class CloseAfterBytes(Fault):
    """Forward exactly ``n`` bytes per connection (both ways counted), then close."""

    def __init__(self, n: int | None) -> None:
        if n is not None and n < 0:
            raise ValueError(f"n must be >= 0, not {n!r}")
        self.n = n

    def enabled(self) -> bool:
        return self.n is not None

    def on_tick(self, pair: Pair, now: float) -> None:
        assert self.n is not None
        if pair.total >= self.n:  # already past n when the fault was set
            pair.close("fin", "close_after_bytes")

    def send_limit(self, pair: Pair, d: Direction, size: int) -> int:
        assert self.n is not None
        size = min(size, max(0, self.n - pair.total))
        if size == 0:
            pair.close("fin", "close_after_bytes")
        return size

    def on_sent(self, pair: Pair, d: Direction, sent: int, now: float) -> None:
        assert self.n is not None
        if pair.total >= self.n:
            pair.close("fin", "close_after_bytes")


class IdleTimeout(Fault):
    """Close each connection after ``seconds`` without a byte either way.

    Bytes the proxy still holds (latency, pacing, a destination that is not
    reading) are traffic in flight, so the clock only runs once both
    directions are empty, counting from the last byte that moved.
    """

    def __init__(self, seconds: float | None) -> None:
        self.seconds = None if seconds is None else non_negative("seconds", seconds)

    def enabled(self) -> bool:
        return self.seconds is not None

    def on_idle(self, pair: Pair, now: float) -> None:
        assert self.seconds is not None
        deadline = pair.last_activity + self.seconds
        if now >= deadline:
            pair.close("fin", "idle_timeout")
        else:
            pair.wake(deadline)
