"""Both cohorts over one window: scrape, read or query every source, then check the cohorts."""

from __future__ import annotations

import math
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from .exposition import Instance, Snapshot, delta, parse_exposition, to_instance
from .fetch import fetch
from .prometheus import parse_prom_source, query_prom
from .settings import CompareError, Settings


def scrape(url: str, settings: Settings) -> Snapshot:
    body = fetch(url, "metrics endpoint")
    return parse_exposition(body.decode("utf-8", "replace"), settings, url)


def read_file(path: str, settings: Settings) -> Snapshot:
    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise CompareError(
            f"{path!r} is neither an http(s):// URL, a prom+http(s):// query nor an existing file"
        ) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise CompareError(f"cannot read {path!r}: {exc}") from None
    return parse_exposition(text, settings, path)


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
        start = dict(zip(http, pool.map(lambda u: scrape(u, settings), http), strict=True))
        began = time.monotonic()
        result: dict[str, list[Instance]] = {"baseline": [], "candidate": []}
        for cohort, src in tagged:  # files and queries fail fast, before the wait
            if src.startswith("prom+"):
                parse_prom_source(src)
            elif src not in start:
                result[cohort].append(to_instance(src, read_file(src, settings), settings.duration))
        if http:
            time.sleep(max(0.0, settings.duration - (time.monotonic() - began)))
        end = dict(zip(http, pool.map(lambda u: scrape(u, settings), http), strict=True))
    elapsed = max(time.monotonic() - began, 1e-9)
    now = time.time()
    for cohort, src in tagged:
        if src in end:
            result[cohort].append(to_instance(src, delta(start[src], end[src]), elapsed))
        elif src.startswith("prom+"):
            found = query_prom(src, settings, now)
            if not found:
                raise CompareError(f"{src!r} matched no series in the last {settings.duration:g} s")
            result[cohort] += found
    check_cohorts(result["baseline"], result["candidate"], settings)
    return result["baseline"], result["candidate"]


def check_cohorts(baseline: list[Instance], candidate: list[Instance], s: Settings) -> None:
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
