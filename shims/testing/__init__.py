"""Testing kit: the parity pytest plugin, FaultProxy, and the conformance suite.

``FaultProxy`` injects real TCP faults (FIN, RST, half-close, backpressure,
blackhole, latency, lifetime and idle closes) between a client and a server.
The conformance suite runs with ``pytest --pyargs shims.testing.conformance``;
``register_backend`` adds your own backend to ``--backends``.  The pytest
plugin (``@pytest.mark.parity``, the ``parity`` fixture, whose type is
``ParityRecorder``) is loaded automatically through its entry point.
"""

from ._parity_compare import ParityRecorder as ParityRecorder
from ._parity_run import register_backend as register_backend
from ._proxy import FaultProxy as FaultProxy

__all__ = ["FaultProxy", "ParityRecorder", "register_backend"]
