"""The ``migrate`` command line: codemods, scan, check, flags, parity, demo.

The command line is the interface (``migrate --help``); the lint and scan
engines behind ``migrate check`` and ``migrate scan`` are also usable from
Python, for dashboards and editor integrations.
"""

from ._check import Finding as Finding
from ._check import lint_source as lint_source
from ._cli import main as main
from ._scan import ServiceReport as ServiceReport
from ._scan import scan_path as scan_path

__all__ = ["Finding", "ServiceReport", "lint_source", "main", "scan_path"]
