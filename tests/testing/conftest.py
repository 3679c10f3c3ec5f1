"""Enable pytester, to run the parity plugin on generated test files."""

pytest_plugins = ["pytester"]
