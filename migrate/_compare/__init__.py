"""The engine behind ``migrate compare``: is the candidate cohort worse than the baseline?

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

Modules: ``settings`` (the config table), ``exposition`` (one instance's
numbers), ``fetch`` (HTTP), ``prometheus`` (query sources), ``measure`` (both
cohorts over one window, and their sanity checks), ``verdict`` (the test, the
table, the JSON).
"""
