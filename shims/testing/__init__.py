"""Testing kit: parity plugin, FaultProxy, conformance suite."""
