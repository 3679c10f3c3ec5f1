"""Bundled codemod specs (TOML data files), a package so that they ship in the wheel."""
