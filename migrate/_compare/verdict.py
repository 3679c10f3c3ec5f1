"""The verdict: a one-sided Mann-Whitney U test per metric, the table and the JSON report."""

from __future__ import annotations

import statistics
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from .exposition import Instance
from .settings import EXTRA_HINT, CompareError, Settings


@dataclass(frozen=True)
class Row:
    metric: str
    baseline: float
    candidate: float
    p_value: float | None
    verdict: str  # pass | worse | REGRESSION
    critical: bool
    histogram: bool


def judge(baseline: list[Instance], candidate: list[Instance], s: Settings) -> list[Row]:
    """Compare every metric key of the cohorts; one row per key, critical ones first."""
    try:
        from scipy.stats import mannwhitneyu
    except ImportError:
        raise CompareError(f"migrate compare needs scipy: {EXTRA_HINT}") from None
    keys = sorted(set().union(*(i.values for i in baseline + candidate)))
    rows = []
    for key in keys:
        name = key.partition("{")[0]
        b = [i.values.get(key, 0.0) for i in baseline]
        c = [i.values.get(key, 0.0) for i in candidate]
        mb, mc = statistics.median(b), statistics.median(c)
        p: float | None = None
        if len(set(b) | set(c)) > 1:
            p = float(mannwhitneyu(c, b, alternative="greater").pvalue)
        worse = p is not None and p <= s.alpha and mc > mb * (1 + s.max_increase)
        critical = s.is_critical(name)
        verdict = ("REGRESSION" if critical else "worse") if worse else "pass"
        rows.append(Row(key, mb, mc, p, verdict, critical, not name.endswith("_total")))
    rows.sort(key=lambda r: (not r.critical, r.metric))
    return rows


def change(row: Row) -> str:
    """Return the relative change of the medians, ``new`` from zero, ``=`` when equal."""
    if row.candidate == row.baseline:
        return "="
    if row.baseline == 0:
        return "new"
    return f"{(row.candidate - row.baseline) / row.baseline:+.0%}"


def _fmt(row: Row, value: float) -> str:
    return f"{value:.4g} s" if row.histogram else f"{value:.4g}/s"


def render(rows: Iterable[Row]) -> str:
    """Return the table: metric, baseline, candidate, change, p-value, verdict."""
    table = [("METRIC", "BASELINE", "CANDIDATE", "CHANGE", "P-VALUE", "VERDICT")]
    for r in rows:
        p = "-" if r.p_value is None else f"{r.p_value:.3g}"
        verdict = r.verdict + (" (critical)" if r.critical else "")
        table.append((r.metric, _fmt(r, r.baseline), _fmt(r, r.candidate), change(r), p, verdict))
    widths = [max(len(line[i]) for line in table) for i in range(6)]
    return "\n".join(
        "  ".join(c.rjust(w) if 1 <= i <= 4 else c.ljust(w) for i, (c, w) in
                  enumerate(zip(line, widths, strict=True))).rstrip()
        for line in table
    )  # fmt: skip


def as_json(
    rows: list[Row], failed: list[str], b: list[Instance], c: list[Instance], s: Settings
) -> dict[str, Any]:
    return {
        "verdict": "regression" if failed else "pass",
        "regressions": failed,
        "window_seconds": s.duration,
        "alpha": s.alpha,
        "max_increase": s.max_increase,
        "baseline": [i.name for i in b],
        "candidate": [i.name for i in c],
        "metrics": [
            {
                "metric": r.metric,
                "baseline": r.baseline,
                "candidate": r.candidate,
                "change": change(r),
                "p_value": r.p_value,
                "verdict": r.verdict.lower(),
                "critical": r.critical,
                "unit": "seconds" if r.histogram else "per_second",
            }
            for r in rows
        ],
    }
