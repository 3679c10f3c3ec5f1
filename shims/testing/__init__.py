"""Testing kit: the parity pytest plugin, FaultProxy, and the conformance suite.

``FaultProxy`` injects real TCP faults (FIN, RST, half-close, backpressure,
blackhole, latency, lifetime and idle closes) between a client and a server.
The conformance suite runs with ``pytest --pyargs shims.testing.conformance``.
"""

from ._proxy import FaultProxy as FaultProxy

__all__ = ["FaultProxy"]
