"""One instance's numbers: a Prometheus text exposition reduced to counters and histogram means."""

from __future__ import annotations

from dataclasses import dataclass, field

from .settings import EXTRA_HINT, CompareError, Settings

# Labels that say where a sample came from, not what it counts: summed away.
IDENTITY_LABELS = frozenset({"service", "backend", "pool", "instance", "job", "cohort"})


@dataclass
class Snapshot:
    """What one scrape (or file, or query) says about one instance."""

    families: set[str] = field(default_factory=set)
    counters: dict[str, float] = field(default_factory=dict)
    sums: dict[str, float] = field(default_factory=dict)
    counts: dict[str, float] = field(default_factory=dict)


@dataclass
class Instance:
    name: str
    values: dict[str, float]  # metric key -> rate per second, or mean observation
    families: set[str]


def parse_exposition(text: str, settings: Settings, where: str) -> Snapshot:
    """Reduce one text exposition to the counters and histogram sums/counts of wanted metrics."""
    try:
        from prometheus_client.parser import text_string_to_metric_families
    except ImportError:
        raise CompareError(f"migrate compare needs prometheus_client: {EXTRA_HINT}") from None
    snap = Snapshot()
    try:
        for family in text_string_to_metric_families(text):
            for sample in family.samples:
                add_sample(snap, family.type, sample.name, sample.labels, sample.value, settings)
            if family.type == "counter" and settings.wanted(family.name + "_total"):
                snap.families.add(family.name + "_total")
            elif family.type == "histogram" and settings.wanted(family.name):
                snap.families.add(family.name)
    except (ValueError, TypeError, IndexError, KeyError) as exc:
        raise CompareError(f"{where}: malformed Prometheus text exposition ({exc})") from None
    return snap


def add_sample(
    snap: Snapshot, kind: str, name: str, labels: dict[str, str], value: float, s: Settings
) -> None:
    if kind == "counter" and name.endswith("_total") and s.wanted(name):
        target, base = snap.counters, name
    elif kind == "histogram" and name.endswith(("_sum", "_count")):
        base, _, part = name.rpartition("_")
        if not s.wanted(base):
            return
        target = snap.sums if part == "sum" else snap.counts
    else:
        return
    key = metric_key(base, labels)
    target[key] = target.get(key, 0.0) + value


def metric_key(name: str, labels: dict[str, str]) -> str:
    """Return ``name{label="v",...}`` without the identity labels (service, backend, pool...)."""
    kept = sorted((k, v) for k, v in labels.items() if k not in IDENTITY_LABELS and k != "le")
    if not kept:
        return name
    return name + "{" + ",".join(f'{k}="{v}"' for k, v in kept) + "}"


def delta(start: Snapshot, end: Snapshot) -> Snapshot:
    def diff(a: dict[str, float], b: dict[str, float]) -> dict[str, float]:
        return {k: v - a.get(k, 0.0) if v >= a.get(k, 0.0) else v for k, v in b.items()}

    return Snapshot(
        end.families, diff(start.counters, end.counters), diff(start.sums, end.sums),
        diff(start.counts, end.counts),
    )  # fmt: skip


def to_instance(name: str, snap: Snapshot, window: float) -> Instance:
    values = {k: v / window for k, v in snap.counters.items()}
    for key, count in snap.counts.items():
        values[key] = snap.sums.get(key, 0.0) / count if count > 0 else 0.0
    return Instance(name, values, set(snap.families))
