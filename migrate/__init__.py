"""The ``migrate`` command line."""

def main(argv: list[str] | None = None) -> int:
    raise SystemExit("migrate: not built yet")
