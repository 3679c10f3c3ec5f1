"""Faults that slow bytes down: latency, slice, bandwidth."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ._base import Fault, non_negative

if TYPE_CHECKING:
    from .._proxy_pair import Direction, Pair


class Latency(Fault):
    """Each chunk leaves ``seconds`` after it was read, in both directions."""

    def __init__(self, seconds: float) -> None:
        self.seconds = non_negative("seconds", seconds)

    def enabled(self) -> bool:
        return self.seconds > 0

    def on_data(self, pair: Pair, d: Direction, release: float, data: bytes) -> tuple[float, bytes]:
        return release + self.seconds, data


class Slice(Fault):
    """Writes of at most ``size`` bytes, ``delay`` seconds apart."""

    def __init__(self, size: int | None, delay: float = 0.0) -> None:
        if size is not None and size < 1:
            raise ValueError(f"size must be at least 1, not {size!r}")
        self.size = size
        self.delay = non_negative("delay", delay)

    def enabled(self) -> bool:
        return self.size is not None

    def send_limit(self, pair: Pair, d: Direction, size: int) -> int:
        assert self.size is not None
        return min(size, self.size)

    def on_sent(self, pair: Pair, d: Direction, sent: int, now: float) -> None:
        if self.delay:
            d.next_send = now + self.delay


class Bandwidth(Fault):
    """Each direction of each connection paced to ``bytes_per_second``, in 20 ms writes."""

    def __init__(self, bytes_per_second: float | None) -> None:
        if bytes_per_second is not None and bytes_per_second <= 0:
            raise ValueError(f"bytes_per_second must be positive, not {bytes_per_second!r}")
        self.bytes_per_second = bytes_per_second

    def enabled(self) -> bool:
        return self.bytes_per_second is not None

    def send_limit(self, pair: Pair, d: Direction, size: int) -> int:
        assert self.bytes_per_second is not None
        return min(size, max(1, int(self.bytes_per_second / 50)))

    def on_sent(self, pair: Pair, d: Direction, sent: int, now: float) -> None:
        assert self.bytes_per_second is not None
        d.next_send = max(d.next_send, now) + sent / self.bytes_per_second
