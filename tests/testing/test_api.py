"""shims.testing's public surface: __all__ matches what the package exports."""

from __future__ import annotations

from types import ModuleType

import shims.testing


def test_all_matches_the_public_names() -> None:
    public = {
        name
        for name in dir(shims.testing)
        if not name.startswith("_") and not isinstance(getattr(shims.testing, name), ModuleType)
    }
    assert sorted(shims.testing.__all__) == sorted(public)
    assert {"FaultProxy", "ParityRecorder", "register_backend"} <= public
