"""``prom+http(s)://`` sources: one Prometheus range query, one instance per ``by`` label."""

from __future__ import annotations

import fnmatch
import itertools
import json
import urllib.parse
from collections import defaultdict

from .exposition import Instance, Snapshot, add_sample, to_instance
from .fetch import fetch
from .settings import CompareError, Settings


def parse_prom_source(src: str) -> tuple[str, str, str]:
    """Split ``prom+http://host:port/prefix?selector={...}&by=label`` into (base, selector, by)."""
    parts = urllib.parse.urlsplit(src[len("prom+") :])
    params: dict[str, str] = {}
    for item in filter(None, parts.query.split("&")):
        key, _, value = item.partition("=")
        params[urllib.parse.unquote(key)] = urllib.parse.unquote(value)
    selector = params.pop("selector", "").strip()
    by = params.pop("by", "instance")
    if params or not (selector.startswith("{") and selector.endswith("}")) or not parts.netloc:
        raise CompareError(
            f"{src!r} is not a Prometheus source; write "
            'prom+http://HOST:PORT?selector={job="x",cohort="a"} (optionally &by=LABEL)'
        )
    return urllib.parse.urlunsplit((parts.scheme, parts.netloc, parts.path, "", "")), selector, by


def query_prom(src: str, settings: Settings, end: float) -> list[Instance]:
    base, selector, by = parse_prom_source(src)
    names = "|".join(fnmatch.translate(p).removeprefix("(?s:").removesuffix(")\\Z")
                     for p in settings.metrics)  # fmt: skip
    inner = selector[1:-1].strip().rstrip(",")
    window = f"{max(1, round(settings.duration * 1000))}ms"  # Prometheus durations are integers
    query = f'{{{inner + "," if inner else ""}__name__=~"{names}"}}[{window}]'
    params = urllib.parse.urlencode({"query": query, "time": f"{end:.3f}"})
    url = f"{base.rstrip('/')}/api/v1/query?{params}"
    try:
        answer = json.loads(fetch(url, "Prometheus server"))
        if answer.get("status") != "success":
            raise CompareError(f"Prometheus rejected {query!r}: {answer.get('error')}")
        series = answer["data"]["result"]
    except (ValueError, KeyError, TypeError) as exc:
        raise CompareError(f"{src!r}: not a Prometheus query answer ({exc!r})") from None
    per: dict[str, list[tuple[str, dict[str, str], list[tuple[float, float]]]]] = defaultdict(list)
    for s in series:
        labels = dict(s["metric"])
        points = [(float(t), float(v)) for t, v in s.get("values", [])]
        if by not in labels:
            raise CompareError(f"{src!r}: series {labels!r} has no {by!r} label to split by")
        if points:
            per[labels.pop(by)].append((labels.pop("__name__"), labels, points))
    for name, items in per.items():
        if max(len(points) for _, _, points in items) < 2:
            raise CompareError(
                f"{src!r}: instance {name!r} has fewer than 2 samples in the last "
                f"{settings.duration:g} s; widen --duration or scrape more often"
            )
    return [_prom_instance(name, items, settings) for name, items in sorted(per.items())]


def _prom_instance(
    name: str, items: list[tuple[str, dict[str, str], list[tuple[float, float]]]], s: Settings
) -> Instance:
    born = min(points[0][0] for _, _, points in items)
    snap = Snapshot()
    for metric, labels, points in items:
        increase = points[0][1] if points[0][0] > born else 0.0  # born inside the window
        for (_, prev), (_, value) in itertools.pairwise(points):
            increase += value - prev if value >= prev else value
        if metric.endswith("_total"):
            snap.families.add(metric)
            add_sample(snap, "counter", metric, labels, increase, s)
        elif metric.endswith(("_sum", "_count", "_bucket")):
            snap.families.add(metric.rpartition("_")[0])
            add_sample(snap, "histogram", metric, labels, increase, s)
    return to_instance(f"{name}", snap, s.duration)
