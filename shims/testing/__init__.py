"""Testing kit: the parity pytest plugin, FaultProxy, the conformance suite, diagnostics.

``FaultProxy`` injects real TCP faults (FIN, RST, half-close, backpressure,
blackhole, latency, lifetime and idle closes) between a client and a server.
Each fault is an object from ``shims.testing.faults``; ``FaultProxy.install``
takes your own too, once registered there.
The conformance suite runs with ``pytest --pyargs shims.testing.conformance``
on every backend registered in ``shims.backends`` (``--backends`` picks).
The pytest plugin (``@pytest.mark.parity``, the ``parity`` fixture, whose
type is ``ParityRecorder``) is loaded automatically through its entry point.

Diagnostics, for plugins and custom runners: ``live_connections()`` (every
shim connection not yet ``CLOSED``), ``UNHANDLED`` (errors nobody retrieved:
failed tasks, raising handlers and ``on_close`` callbacks; clear it yourself)
and ``record_unhandled(exc)``. They are loaded on first use: the plugin loads
in every pytest run and must not import ``shims`` before a parity test needs it.
"""

from typing import TYPE_CHECKING as _TYPE_CHECKING
from typing import Any as _Any

from ._parity_compare import ParityRecorder as ParityRecorder
from ._parity_run import register_backend as register_backend
from ._proxy import FaultProxy as FaultProxy

if _TYPE_CHECKING:
    from shims._diagnostics import UNHANDLED as UNHANDLED
    from shims._diagnostics import live_connections as live_connections
    from shims._diagnostics import record_unhandled as record_unhandled

__all__ = [
    "UNHANDLED",
    "FaultProxy",
    "ParityRecorder",
    "live_connections",
    "record_unhandled",
    "register_backend",
]

_DIAGNOSTICS = frozenset({"UNHANDLED", "live_connections", "record_unhandled"})


def __getattr__(name: str) -> _Any:
    if name in _DIAGNOSTICS:
        from shims import _diagnostics

        return getattr(_diagnostics, name)
    raise AttributeError(f"module 'shims.testing' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted({*globals(), *_DIAGNOSTICS})
