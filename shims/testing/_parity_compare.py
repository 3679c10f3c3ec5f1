"""The ``parity`` fixture's recorder and the cross-backend comparison of recordings."""

from __future__ import annotations

from typing import Any

__all__ = ["ParityRecorder", "describe_mismatch"]

_MISSING = object()


class ParityRecorder:
    """Collect ``key -> value`` observations of one test on one backend.

    Values are compared with ``==`` across backends and shown with ``repr``,
    so record backend-neutral facts: states, ``close_reason``, exception type
    names, byte strings and counts, never objects that embed the backend.
    """

    def __init__(self, backend: str) -> None:
        self.backend = backend
        self.values: dict[str, Any] = {}

    def __repr__(self) -> str:
        return f"<ParityRecorder {self.backend} {self.values!r}>"

    def record(self, key: str, value: Any) -> None:
        """Record ``value`` under ``key`` for comparison with the other backends.

        Raises ValueError when ``key`` was already recorded in this run (use
        distinct keys, e.g. ``"read.1"``, ``"read.2"``) and TypeError when it
        is not a string.
        """
        if not isinstance(key, str):
            raise TypeError(f"parity.record() key must be a str, not {key!r}")
        if key in self.values:
            raise ValueError(
                f"parity key {key!r} was already recorded on {self.backend} "
                f"(value {self.values[key]!r}); use a distinct key per observation"
            )
        self.values[key] = value


def describe_mismatch(test: str, records: dict[str, dict[str, Any]]) -> str | None:
    """Return a message naming every key whose value differs between backends, or None.

    ``records`` maps backend name to that backend's recordings; a key recorded
    by only some backends counts as a difference (shown as ``<not recorded>``).
    """
    backends = list(records)
    keys: list[str] = []
    for values in records.values():
        keys.extend(k for k in values if k not in keys)
    lines = []
    for key in keys:
        seen = [records[b].get(key, _MISSING) for b in backends]
        first = seen[0]
        if all(v is not _MISSING and first is not _MISSING and v == first for v in seen):
            continue
        shown = ", ".join(
            f"{b}={'<not recorded>' if v is _MISSING else repr(v)}"
            for b, v in zip(backends, seen, strict=True)
        )
        lines.append(f"  key {key!r}: {shown}")
    if not lines:
        return None
    return (
        f"parity mismatch in {test} between backends {', '.join(backends)} "
        f"(each may pass alone; the observations differ):\n" + "\n".join(lines)
    )
