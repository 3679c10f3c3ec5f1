"""Proxy faults: each one an object whose hooks FaultProxy's thread calls, registered here.

Every ``FaultProxy`` fault method (``latency``, ``close_all``, ...) installs
one of these objects; ``FaultProxy.install(fault)`` installs any registered
one, so a new fault is one module plus one ``register`` line::

    from shims.testing.faults import Fault, register

    @register
    class FlipByte(Fault):
        '''Flip the bits of byte ``at`` of what each client sends.'''

        def __init__(self, at: int) -> None:
            self.at = at

        def on_data(self, pair, d, release, data):
            i = self.at - d.received
            if d is pair.up and 0 <= i < len(data):
                data = data[:i] + bytes([data[i] ^ 0xFF]) + data[i + 1 :]
            return release, data

    proxy.install(FlipByte(at=3))

A ``Fault`` applies to every live and future connection until it is
switched off (an object whose ``enabled()`` is false), replaced by another
of its class, or ``proxy.clear()``-ed; an ``Action`` acts once on the
connections live at that moment. The hooks are listed on ``Fault``; they
get the connection (``Pair``: ``up``/``down`` directions, ``close``, ``wake``,
``total``, ``last_activity``) and a ``Direction`` (its queue, ``received``,
``next_send``).
"""

from .._proxy_pair import Direction as Direction
from .._proxy_pair import Pair as Pair
from ._base import Action as Action
from ._base import ActiveFaults as ActiveFaults
from ._base import Fault as Fault
from ._base import Proxyside as Proxyside
from ._base import is_registered as is_registered
from ._base import register as register
from ._base import registered as registered
from .actions import CloseAll as CloseAll
from .actions import FinMidRecord as FinMidRecord
from .actions import HalfClose as HalfClose
from .actions import InjectAndClose as InjectAndClose
from .actions import KillOne as KillOne
from .closes import CloseAfterBytes as CloseAfterBytes
from .closes import IdleTimeout as IdleTimeout
from .closes import MaxLifetime as MaxLifetime
from .pacing import Bandwidth as Bandwidth
from .pacing import Latency as Latency
from .pacing import Slice as Slice
from .stall import Blackhole as Blackhole
from .stall import StopReading as StopReading

__all__ = [
    "Action",
    "ActiveFaults",
    "Bandwidth",
    "Blackhole",
    "CloseAfterBytes",
    "CloseAll",
    "Direction",
    "Fault",
    "FinMidRecord",
    "HalfClose",
    "IdleTimeout",
    "InjectAndClose",
    "KillOne",
    "Latency",
    "MaxLifetime",
    "Pair",
    "Proxyside",
    "Slice",
    "StopReading",
    "is_registered",
    "register",
    "registered",
]

# The registry: the order is the order the proxy consults faults in
# (deadlines before byte limits, slice pacing before bandwidth pacing).
register(StopReading)
register(Blackhole)
register(Latency)
register(MaxLifetime)
register(CloseAfterBytes)
register(IdleTimeout)
register(Slice)
register(Bandwidth)
register(CloseAll)
register(KillOne)
register(HalfClose)
register(FinMidRecord)
register(InjectAndClose)
