"""The ``migrate`` subcommands, one module each, registered in ``migrate._cli``."""
