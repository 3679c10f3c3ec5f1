"""The lint engine behind ``migrate check`` and ``migrate scan``: rules, walk, readiness."""
