"""pytest plugin (filled by the parity work)."""
