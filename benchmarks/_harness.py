"""Shared timing helpers: medians over repeated runs, side-by-side ratio tables."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable, Sequence


def median_seconds(fn: Callable[[], object], *, repeat: int = 7, warmup: int = 1) -> float:
    """Run ``fn`` ``warmup`` times untimed, then ``repeat`` times; return the median wall time."""
    for _ in range(warmup):
        fn()
    samples = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - start)
    return statistics.median(samples)


def interleaved_medians(
    cases: dict[str, Callable[[], object]], *, repeat: int = 7, warmup: int = 1
) -> dict[str, float]:
    """Time every case in turn, round after round, so machine noise hits all of them alike."""
    for fn in cases.values():
        for _ in range(warmup):
            fn()
    samples: dict[str, list[float]] = {name: [] for name in cases}
    for _ in range(repeat):
        for name, fn in cases.items():
            start = time.perf_counter()
            fn()
            samples[name].append(time.perf_counter() - start)
    return {name: statistics.median(values) for name, values in samples.items()}


def print_ratios(
    title: str,
    medians: dict[str, float],
    *,
    baseline: str,
    unit_count: int = 1,
    unit: str = "op",
    order: Sequence[str] | None = None,
) -> None:
    """Print one table: each case's median, per-unit cost, and its ratio to ``baseline``."""
    base = medians[baseline]
    print(f"\n{title}  (median; ratio = time / time of {baseline!r}, lower is faster)")
    for name in order or list(medians):
        value = medians[name]
        per = value / unit_count * 1e6
        print(f"  {name:<32} {value * 1e3:10.2f} ms  {per:9.2f} us/{unit}  {value / base:6.2f}x")
