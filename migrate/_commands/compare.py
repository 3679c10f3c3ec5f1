"""``migrate compare``: is the candidate cohort worse than the baseline? (the rollout gate).

Theory of operation: each SRC is one instance (or, for a Prometheus query,
one instance per value of the ``by`` label). Every instance is reduced to one
number per metric over the same window: a counter's increase divided by the
window (events per second), a histogram's mean observation over the window
(sum increase / count increase). The cohorts are then compared metric by
metric with a one-sided Mann-Whitney U test (scipy): "are the candidate's
per-instance values larger than the baseline's?". It needs no assumption
about the distribution, which matters for counts that are mostly zero.

A metric regresses when its p-value is at most ``alpha`` and the candidate's
median exceeds the baseline's by more than ``max_increase`` (relative). Only
regressions of critical metrics fail the gate (exit 1); the others are shown.
Missing data is never a pass: an unreachable or malformed source, a metric
family present on some instances but not others, fewer than
``min_instances`` per cohort, or an instance in both cohorts stop the run
with one line and exit 2.

Sources:

- ``http(s)://host:port/metrics``: scraped at the start and at the end of the
  window (``--duration``); a counter that went down restarted, its end value
  is the increase.
- a file path: one instance's text exposition, counters counted from zero
  over the window.
- ``prom+http(s)://host:port[/prefix]?selector={job="x",cohort="a"}[&by=instance]``:
  a Prometheus server; the raw samples of the window ending now are fetched
  (``/api/v1/query`` of ``{selector}[Ns]``) and split per ``by`` label.
  Counter resets are added back; a series born inside the window counts
  from zero.
"""

from __future__ import annotations

import argparse
import contextlib
import fnmatch
import itertools
import json
import math
import statistics
import sys
import time
import tomllib
import urllib.error
import urllib.parse
import urllib.request
from collections import defaultdict
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

__all__ = ["add_parser"]

DEFAULT_CRITICAL = (
    "shims_eof_to_caller_total",
    "shims_pool_dead_at_checkout_total",
    "shims_write_timeouts_total",
    "shims_unhandled_errors_total",
    "shims_pool_wait_timeouts_total",
)
# Labels that say where a sample came from, not what it counts: summed away.
IDENTITY_LABELS = frozenset({"service", "backend", "pool", "instance", "job", "cohort"})
EXTRA_HINT = "pip install 'migrate-toolkit[metrics]'"


class CompareError(Exception):
    """Bad input: the message is the one line the user sees (exit 2)."""


@dataclass(frozen=True)
class Settings:
    """``[tool.migrate.compare]`` (or ``[compare]`` in migrate.toml), with DESIGN's defaults."""

    alpha: float = 0.05
    max_increase: float = 0.10
    min_instances: int = 3
    duration: float = 60.0
    critical: tuple[str, ...] = DEFAULT_CRITICAL
    metrics: tuple[str, ...] = ("shims_*",)

    def is_critical(self, name: str) -> bool:
        return any(fnmatch.fnmatchcase(name, pattern) for pattern in self.critical)

    def wanted(self, name: str) -> bool:
        return any(fnmatch.fnmatchcase(name, pattern) for pattern in self.metrics)


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


@dataclass(frozen=True)
class Row:
    metric: str
    baseline: float
    candidate: float
    p_value: float | None
    verdict: str  # pass | worse | REGRESSION
    critical: bool
    histogram: bool


def add_parser(subparsers: Any) -> None:
    """Register ``migrate compare``."""
    parser = subparsers.add_parser(
        "compare",
        help="compare a candidate cohort's shim metrics with a baseline cohort (a rollout gate)",
        description=(
            "Reduce every instance to one value per metric over the same window (counter "
            "increase per second, histogram mean), compare the cohorts per metric with a "
            "one-sided Mann-Whitney U test, and fail when a critical metric got worse. "
            "SRC: an http(s):// metrics URL (scraped at the start and end of --duration), a "
            "file with one instance's exposition (counters from zero), or "
            'prom+http://HOST:PORT?selector={job="x",cohort="a"}[&by=instance] (a '
            "Prometheus server, the window ending now). Settings: [tool.migrate.compare]."
        ),
        epilog="Exit codes: 0 pass, 1 regression (named), 2 bad input or too few instances.",
    )
    parser.add_argument("--baseline", nargs="+", required=True, metavar="SRC")
    parser.add_argument("--candidate", nargs="+", required=True, metavar="SRC")
    parser.add_argument(
        "--duration", type=float, metavar="SECONDS",
        help="window length (default: [tool.migrate.compare] duration, else 60)",
    )  # fmt: skip
    parser.add_argument("--config", type=Path, help="config file instead of the usual search")
    parser.add_argument("--json", action="store_true", help="machine-readable output")
    parser.set_defaults(func=_main)


def _main(args: argparse.Namespace) -> int:
    try:
        settings = load_settings(args.config)
        if args.duration is not None:
            if not args.duration > 0:
                raise CompareError(f"--duration must be positive, got {args.duration!r}")
            settings = _replace(settings, duration=args.duration)
        baseline, candidate = measure(args.baseline, args.candidate, settings)
        rows = judge(baseline, candidate, settings)
    except CompareError as exc:
        print(f"migrate compare: error: {exc}", file=sys.stderr)
        return 2
    failed = [r.metric for r in rows if r.verdict == "REGRESSION"]
    if args.json:
        print(json.dumps(_as_json(rows, failed, baseline, candidate, settings), indent=2))
    else:
        print(render(rows))
        where = f"{len(baseline)} baseline, {len(candidate)} candidate instances, "
        where += f"{settings.duration:g} s window"
        if failed:
            print(f"compare: REGRESSION in {', '.join(failed)} ({where})")
        else:
            print(f"compare: pass ({where})")
    return 1 if failed else 0


def _replace(settings: Settings, **changes: Any) -> Settings:
    values = {f.name: getattr(settings, f.name) for f in fields(settings)}
    values.update(changes)
    return Settings(**values)


# -- settings ------------------------------------------------------------------


def load_settings(path: Path | None) -> Settings:
    """Read ``[tool.migrate.compare]``; defaults when there is no file or no table."""
    from shims import FlagError
    from shims.config import find_config

    try:
        path = path if path is not None else find_config()
    except FlagError as exc:
        raise CompareError(str(exc)) from None
    if path is None:
        return Settings()
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise CompareError(f"cannot read config file {str(path)!r}: {exc}") from None
    where = "[compare]"
    if path.name == "pyproject.toml":
        data, where = data.get("tool", {}).get("migrate", {}), "[tool.migrate.compare]"
    table = data.get("compare", {})
    if not isinstance(table, dict):
        raise CompareError(f"{path}: {where} must be a table, got {table!r}")
    known = {f.name: f for f in fields(Settings)}
    values: dict[str, Any] = {}
    for key, value in table.items():
        if key not in known:
            raise CompareError(
                f"{path}: {where}: unknown key {key!r}; known keys: {', '.join(known)}"
            )
        values[key] = _check_setting(key, value, f"{path}: {where} {key}")
    return Settings(**values)


def _check_setting(key: str, value: object, where: str) -> object:
    if key in ("critical", "metrics"):
        if not (isinstance(value, list) and all(isinstance(v, str) for v in value)):
            raise CompareError(f"{where} must be a list of metric names or globs, got {value!r}")
        return tuple(value)
    if key == "min_instances":
        if not isinstance(value, int) or isinstance(value, bool) or value < 2:
            raise CompareError(f"{where} must be an integer of at least 2, got {value!r}")
        return value
    ok = isinstance(value, int | float) and not isinstance(value, bool)
    if key == "alpha" and not (ok and 0 < value < 1):  # type: ignore[operator]
        raise CompareError(f"{where} must be between 0 and 1 (e.g. 0.05), got {value!r}")
    if key in ("max_increase", "duration") and not (ok and value > 0):  # type: ignore[operator]
        raise CompareError(f"{where} must be a positive number, got {value!r}")
    return float(value)  # type: ignore[arg-type]


# -- reading sources -----------------------------------------------------------


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
                _add_sample(snap, family.type, sample.name, sample.labels, sample.value, settings)
            if family.type == "counter" and settings.wanted(family.name + "_total"):
                snap.families.add(family.name + "_total")
            elif family.type == "histogram" and settings.wanted(family.name):
                snap.families.add(family.name)
    except (ValueError, TypeError, IndexError, KeyError) as exc:
        raise CompareError(f"{where}: malformed Prometheus text exposition ({exc})") from None
    return snap


def _add_sample(
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


def _fetch(url: str, what: str) -> bytes:
    request = urllib.request.Request(url, headers={"Accept": "text/plain;version=0.0.4"})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            body: bytes = response.read()
            return body
    except urllib.error.HTTPError as exc:
        with exc:
            detail = exc.read(2000).decode("utf-8", "replace")
        with contextlib.suppress(ValueError, AttributeError):  # Prometheus explains in JSON
            detail = json.loads(detail).get("error") or detail
        where = url.partition("?")[0]
        raise CompareError(
            f"{what} {where!r} answered HTTP {exc.code} {exc.reason}: {detail.strip()[:300]}"
        ) from None
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        raise CompareError(f"{what} {url!r} is unreachable ({reason})") from None


def _scrape(url: str, settings: Settings) -> Snapshot:
    body = _fetch(url, "metrics endpoint")
    return parse_exposition(body.decode("utf-8", "replace"), settings, url)


def _read_file(path: str, settings: Settings) -> Snapshot:
    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise CompareError(
            f"{path!r} is neither an http(s):// URL, a prom+http(s):// query nor an existing file"
        ) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise CompareError(f"cannot read {path!r}: {exc}") from None
    return parse_exposition(text, settings, path)


def _delta(start: Snapshot, end: Snapshot) -> Snapshot:
    def diff(a: dict[str, float], b: dict[str, float]) -> dict[str, float]:
        return {k: v - a.get(k, 0.0) if v >= a.get(k, 0.0) else v for k, v in b.items()}

    return Snapshot(
        end.families, diff(start.counters, end.counters), diff(start.sums, end.sums),
        diff(start.counts, end.counts),
    )  # fmt: skip


def _instance(name: str, snap: Snapshot, window: float) -> Instance:
    values = {k: v / window for k, v in snap.counters.items()}
    for key, count in snap.counts.items():
        values[key] = snap.sums.get(key, 0.0) / count if count > 0 else 0.0
    return Instance(name, values, set(snap.families))


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


def _query_prom(src: str, settings: Settings, end: float) -> list[Instance]:
    base, selector, by = parse_prom_source(src)
    names = "|".join(fnmatch.translate(p).removeprefix("(?s:").removesuffix(")\\Z")
                     for p in settings.metrics)  # fmt: skip
    inner = selector[1:-1].strip().rstrip(",")
    window = f"{max(1, round(settings.duration * 1000))}ms"  # Prometheus durations are integers
    query = f'{{{inner + "," if inner else ""}__name__=~"{names}"}}[{window}]'
    params = urllib.parse.urlencode({"query": query, "time": f"{end:.3f}"})
    url = f"{base.rstrip('/')}/api/v1/query?{params}"
    try:
        answer = json.loads(_fetch(url, "Prometheus server"))
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
            _add_sample(snap, "counter", metric, labels, increase, s)
        elif metric.endswith(("_sum", "_count", "_bucket")):
            snap.families.add(metric.rpartition("_")[0])
            _add_sample(snap, "histogram", metric, labels, increase, s)
    return _instance(f"{name}", snap, s.duration)


def measure(
    baseline: list[str], candidate: list[str], settings: Settings
) -> tuple[list[Instance], list[Instance]]:
    """Reduce every source of both cohorts to instances over one window."""
    tagged = [("baseline", src) for src in baseline] + [("candidate", src) for src in candidate]
    seen: dict[str, str] = {}
    for cohort, src in tagged:
        if src in seen:
            raise CompareError(f"{src!r} is in both cohorts; an instance belongs to one cohort")
        seen[src] = cohort
    http = [src for _, src in tagged if src.startswith(("http://", "https://"))]
    with ThreadPoolExecutor(max_workers=min(16, len(http) or 1)) as pool:
        start = dict(zip(http, pool.map(lambda u: _scrape(u, settings), http), strict=True))
        began = time.monotonic()
        result: dict[str, list[Instance]] = {"baseline": [], "candidate": []}
        for cohort, src in tagged:  # files and queries fail fast, before the wait
            if src.startswith("prom+"):
                parse_prom_source(src)
            elif src not in start:
                result[cohort].append(_instance(src, _read_file(src, settings), settings.duration))
        if http:
            time.sleep(max(0.0, settings.duration - (time.monotonic() - began)))
        end = dict(zip(http, pool.map(lambda u: _scrape(u, settings), http), strict=True))
    elapsed = max(time.monotonic() - began, 1e-9)
    now = time.time()
    for cohort, src in tagged:
        if src in end:
            result[cohort].append(_instance(src, _delta(start[src], end[src]), elapsed))
        elif src.startswith("prom+"):
            found = _query_prom(src, settings, now)
            if not found:
                raise CompareError(f"{src!r} matched no series in the last {settings.duration:g} s")
            result[cohort] += found
    _check_cohorts(result["baseline"], result["candidate"], settings)
    return result["baseline"], result["candidate"]


def _check_cohorts(baseline: list[Instance], candidate: list[Instance], s: Settings) -> None:
    both = {i.name for i in baseline} & {i.name for i in candidate}
    if both:
        raise CompareError(f"instance {sorted(both)[0]!r} is in both cohorts; split them apart")
    for cohort, members in (("baseline", baseline), ("candidate", candidate)):
        if len(members) < s.min_instances:
            raise CompareError(
                f"the {cohort} cohort has {len(members)} instance(s), need at least "
                f"{s.min_instances} (min_instances) for a comparison that means anything"
            )
    best = 1 / math.comb(len(baseline) + len(candidate), len(baseline))
    if best > s.alpha:
        raise CompareError(
            f"{len(baseline)} baseline and {len(candidate)} candidate instances can never show a "
            f"difference at alpha={s.alpha:g} (the smallest possible p-value is {best:.3g}); "
            "add instances"
        )
    everything = baseline + candidate
    families = set().union(*(i.families for i in everything))
    if not families:
        raise CompareError(
            f"no metric matching {list(s.metrics)!r} on any instance; is the [metrics] extra "
            "installed in the services and MIGRATE_METRICS not 0?"
        )
    for family in sorted(families):
        for cohort, members in (("baseline", baseline), ("candidate", candidate)):
            for inst in members:
                if family not in inst.families:
                    raise CompareError(
                        f"metric {family!r} is missing on {cohort} instance {inst.name!r}; "
                        "every instance must export the same metrics"
                    )


# -- judging -------------------------------------------------------------------


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


def _as_json(
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
