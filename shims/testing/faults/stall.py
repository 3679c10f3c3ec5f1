"""Faults that stop bytes moving without closing anything: stop_reading, blackhole."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ._base import Fault

if TYPE_CHECKING:
    from .._proxy_pair import Direction, Pair


class StopReading(Fault):
    """Stop reading from clients: their writes stall on real kernel backpressure."""

    def __init__(self, on: bool = True) -> None:
        self.on = bool(on)

    def enabled(self) -> bool:
        return self.on

    def may_read(self, pair: Pair, d: Direction) -> bool:
        return d is not pair.up


class Blackhole(Fault):
    """Forward nothing either way, send neither FIN nor RST, dial no new upstream."""

    def __init__(self, on: bool = True) -> None:
        self.on = bool(on)

    def enabled(self) -> bool:
        return self.on

    def frozen(self, pair: Pair) -> bool:
        return True
