"""The ``migrate`` command line: codemods, scan, check, flags, parity, demo.

The command line is the interface (``migrate --help``); the lint and scan
engines behind ``migrate check`` and ``migrate scan`` are also usable from
Python, for dashboards and editor integrations. ``lint_source`` (which needs
libcst) is imported on first use, so the command line starts quickly.
"""

from typing import TYPE_CHECKING as _TYPE_CHECKING
from typing import Any as _Any

from ._cli import main as main
from ._lint.readiness import ServiceReport as ServiceReport
from ._lint.readiness import scan_path as scan_path
from ._lint.rules import Finding as Finding

if _TYPE_CHECKING:
    from ._lint.engine import lint_source as lint_source

__all__ = ["Finding", "ServiceReport", "lint_source", "main", "scan_path"]


def __getattr__(name: str) -> _Any:
    if name == "lint_source":
        from ._lint.engine import lint_source

        return lint_source
    raise AttributeError(f"module 'migrate' has no attribute {name!r}")
