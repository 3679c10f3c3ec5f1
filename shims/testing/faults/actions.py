"""One-shot faults on the connections live right now: closes, half-close, cut, inject."""

from __future__ import annotations

import random
from typing import TYPE_CHECKING

from ._base import Action, Fault, Proxyside

if TYPE_CHECKING:
    from .._proxy_pair import Direction, Pair


class CloseAll(Action):
    """Close every live connection on both sides, with FIN or RST."""

    def __init__(self, rst: bool = False) -> None:
        self.rst = rst

    def install(self, proxy: Proxyside, now: float) -> None:
        for pair in proxy.live:
            pair.close("rst" if self.rst else "fin", "close_all")


class KillOne(Action):
    """Close one random live connection on both sides; LookupError when none is live."""

    def __init__(self, rst: bool = False) -> None:
        self.rst = rst

    def install(self, proxy: Proxyside, now: float) -> None:
        live = [pair for pair in proxy.live if not pair.closed]
        if not live:
            raise LookupError("no live connection to kill")
        random.choice(live).close("rst" if self.rst else "fin", "kill_one")


class HalfClose(Action):
    """Forward a FIN one way (after what is queued) and drop what follows that way."""

    def __init__(self, direction: str) -> None:
        if direction not in ("to_client", "to_upstream"):
            raise ValueError(f"direction must be 'to_client' or 'to_upstream', not {direction!r}")
        self.direction = direction

    def install(self, proxy: Proxyside, now: float) -> None:
        for pair in proxy.live:
            d = pair.down if self.direction == "to_client" else pair.up
            d.discard = True
            d.ending = True


class FinMidRecord(Action):
    """Forward only ``keep`` more bytes to each live client, then close both ways with FIN."""

    def __init__(self, keep: int) -> None:
        if keep < 0:
            raise ValueError(f"keep must be >= 0, not {keep!r}")
        self.keep = keep

    def install(self, proxy: Proxyside, now: float) -> None:
        for pair in proxy.live:
            pair.local = [f for f in pair.local if not isinstance(f, CutBudget)]
            pair.local.append(CutBudget(self.keep))


class CutBudget(Fault):
    """FinMidRecord's per-connection part: the bytes still to forward to the client.

    Attached to each live pair (``Pair.local``), never installed on its own,
    so it is not registered.
    """

    def __init__(self, budget: int) -> None:
        self.budget = budget

    def send_limit(self, pair: Pair, d: Direction, size: int) -> int:
        if d is not pair.down:
            return size
        if self.budget == 0:
            pair.close("fin", "fin_mid_record")
        return min(size, self.budget)

    def on_sent(self, pair: Pair, d: Direction, sent: int, now: float) -> None:
        if d is pair.down:
            self.budget -= sent
            if self.budget == 0:
                pair.close("fin", "fin_mid_record")


class InjectAndClose(Action):
    """Send ``data`` to every live client, then close with FIN; drop everything else."""

    def __init__(self, data: bytes) -> None:
        self.data = bytes(data)

    def install(self, proxy: Proxyside, now: float) -> None:
        for pair in proxy.live:
            pair.up.discard = True
            pair.up.chunks.clear()
            pair.up.buffered = 0
            pair.down.discard = True
            pair.down.push(now, self.data)
            pair.down.close_when_flushed = True
