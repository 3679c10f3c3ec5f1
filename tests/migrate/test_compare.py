"""``migrate compare``: files, live endpoints and a real Prometheus server; every bad input."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from cli_support import Run

CLI = Callable[..., Run]
CRITICAL = "shims_eof_to_caller_total"


def exposition(eof: float = 0.0, opened: float = 10.0, lag: tuple[float, int] = (0.01, 10)) -> str:
    """One instance's text exposition with a critical counter, a labelled one and a histogram."""
    return f"""# HELP shims_eof_to_caller_total PeerClosedError raised to a caller
# TYPE shims_eof_to_caller_total counter
shims_eof_to_caller_total{{service="docs",backend="asyncio"}} {eof}
# HELP shims_connections_opened_total connections made or accepted
# TYPE shims_connections_opened_total counter
shims_connections_opened_total{{service="docs",backend="asyncio",initiated_by="local"}} {opened}
# HELP shims_loop_lag_seconds scheduler lag
# TYPE shims_loop_lag_seconds histogram
shims_loop_lag_seconds_bucket{{service="docs",backend="asyncio",le="+Inf"}} {lag[1]}
shims_loop_lag_seconds_sum{{service="docs",backend="asyncio"}} {lag[0]}
shims_loop_lag_seconds_count{{service="docs",backend="asyncio"}} {lag[1]}
"""


@pytest.fixture(autouse=True)
def no_config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("MIGRATE_CONFIG", raising=False)


def files(tmp_path: Path, cohort: str, texts: list[str]) -> list[str]:
    paths = []
    for n, text in enumerate(texts):
        path = tmp_path / f"{cohort}{n}.prom"
        path.write_text(text)
        paths.append(str(path))
    return paths


def compare(cli: CLI, baseline: list[str], candidate: list[str], *extra: str) -> Run:
    return cli("compare", "--baseline", *baseline, "--candidate", *candidate, *extra)


def test_similar_cohorts_pass_with_the_table(cli: CLI, tmp_path: Path) -> None:
    base = files(
        tmp_path, "b", [exposition(eof=e, opened=o) for e, o in ((0, 10), (1, 12), (0, 9))]
    )
    cand = files(
        tmp_path, "c", [exposition(eof=e, opened=o) for e, o in ((1, 11), (0, 10), (0, 13))]
    )
    run = compare(cli, base, cand, "--duration", "10")
    assert run.code == 0, run
    header, *rows = run.out.splitlines()
    assert header.split() == ["METRIC", "BASELINE", "CANDIDATE", "CHANGE", "P-VALUE", "VERDICT"]
    assert rows[0].startswith(CRITICAL) and rows[0].endswith("pass (critical)")
    opened = next(r for r in rows if r.startswith("shims_connections_opened_total"))
    assert '{initiated_by="local"}' in opened and "1/s" in opened  # median 10 over 10 s
    assert any(r.startswith("shims_loop_lag_seconds") and "0.001 s" in r for r in rows)
    assert rows[-1].startswith("compare: pass (3 baseline, 3 candidate instances, 10 s window)")


def test_a_critical_metric_that_moved_is_a_regression_named(cli: CLI, tmp_path: Path) -> None:
    base = files(tmp_path, "b", [exposition(eof=0), exposition(eof=0), exposition(eof=1)])
    cand = files(tmp_path, "c", [exposition(eof=30), exposition(eof=41), exposition(eof=25)])
    run = compare(cli, base, cand, "--duration", "10")
    assert run.code == 1, run
    row = next(r for r in run.out.splitlines() if r.startswith(CRITICAL))
    assert row.split()[1:4] == ["0/s", "3/s", "new"] and "REGRESSION (critical)" in row
    assert f"compare: REGRESSION in {CRITICAL} (" in run.out


def test_json_output(cli: CLI, tmp_path: Path) -> None:
    base = files(tmp_path, "b", [exposition(lag=(0.01, 10))] * 3)
    cand = files(tmp_path, "c", [exposition(lag=(x, 10)) for x in (0.5, 0.6, 0.7)])
    run = compare(cli, base, cand, "--json", "--duration", "5")
    assert run.code == 0, run  # loop lag is not critical by default: shown, not failing
    report = json.loads(run.out)
    assert report["verdict"] == "pass" and report["regressions"] == []
    lag = next(m for m in report["metrics"] if m["metric"] == "shims_loop_lag_seconds")
    assert lag["verdict"] == "worse" and lag["unit"] == "seconds" and not lag["critical"]
    assert lag["baseline"] == pytest.approx(0.001) and lag["candidate"] == pytest.approx(0.06)
    assert 0 < lag["p_value"] <= 0.05
    assert len(report["baseline"]) == 3 and report["window_seconds"] == 5


def test_thresholds_and_critical_metrics_come_from_the_config(cli: CLI, tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text(
        "[tool.migrate.compare]\ncritical = ['shims_loop_*']\nmax_increase = 0.5\n"
        "min_instances = 2\nalpha = 0.2\n"
    )
    base = files(tmp_path, "b", [exposition(lag=(0.01, 10))] * 2)
    cand = files(tmp_path, "c", [exposition(lag=(x, 10)) for x in (0.5, 0.6)])
    run = compare(cli, base, cand)
    assert run.code == 1, run
    assert "REGRESSION in shims_loop_lag_seconds" in run.out
    # A 40% increase is under max_increase = 50%: significant but tolerated.
    cand = files(tmp_path, "d", [exposition(lag=(0.014, 10))] * 2)
    assert compare(cli, base, cand).code == 0
    # Two against two can never reach p <= 0.05: refused rather than passed.
    (tmp_path / "pyproject.toml").write_text("[tool.migrate.compare]\nmin_instances = 2\n")
    run = compare(cli, base, cand)
    assert run.code == 2 and "the smallest possible p-value is 0.167" in run.err, run


@pytest.mark.parametrize(
    ("setting", "message"),
    [
        ("alpha = 2", "alpha must be between 0 and 1"),
        ("min_instances = 1", "min_instances must be an integer of at least 2"),
        ("critical = 'shims_x'", "critical must be a list"),
        ("alpah = 0.1", "unknown key 'alpah'"),
    ],
)
def test_bad_settings(cli: CLI, tmp_path: Path, setting: str, message: str) -> None:
    (tmp_path / "migrate.toml").write_text(f"[compare]\n{setting}\n")
    run = compare(
        cli, files(tmp_path, "b", [exposition()] * 3), files(tmp_path, "c", [exposition()] * 3)
    )
    assert run.code == 2 and message in run.err and len(run.err.splitlines()) == 1, run


def test_bad_input_is_exit_2_with_one_line(cli: CLI, tmp_path: Path) -> None:
    good = exposition()
    base = files(tmp_path, "b", [good] * 3)
    cand = files(tmp_path, "c", [good] * 3)

    def fails(baseline: list[str], candidate: list[str], message: str) -> None:
        run = compare(cli, baseline, candidate, "--duration", "1")
        assert run.code == 2, run
        assert run.out == "" and message in run.err and len(run.err.splitlines()) == 1, run.err

    fails(base[:2], cand, "the baseline cohort has 2 instance(s), need at least 3")
    fails(base, [*cand[:2], base[0]], "is in both cohorts")
    fails(base, [*cand[:2], str(tmp_path / "nope.prom")], "neither an http(s):// URL")
    (malformed := tmp_path / "bad.prom").write_text("shims_eof_to_caller_total{x=1} abc\n")
    fails(base, [*cand[:2], str(malformed)], "malformed Prometheus text exposition")
    (partial := tmp_path / "partial.prom").write_text(good.split("# HELP shims_loop")[0])
    fails(
        base, [*cand[:2], str(partial)], "metric 'shims_loop_lag_seconds' is missing on candidate"
    )
    (empty := tmp_path / "empty.prom").write_text("")
    fails([str(empty)] * 0 + files(tmp_path, "e", [""] * 3), files(tmp_path, "f", [""] * 3),
          "no metric matching ['shims_*'] on any instance")  # fmt: skip
    fails(base, ["http://127.0.0.1:9/metrics", *cand[:2]], "is unreachable")
    fails(base, ["prom+http://127.0.0.1:9?selector=job", *cand[:2]], "is not a Prometheus source")


class Exporter:
    """A metrics endpoint whose counters grow by ``rate`` per scrape (each scrape is a tick)."""

    def __init__(self, rate: float) -> None:
        self.rate = rate
        self.scrapes = 0
        exporter = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                exporter.scrapes += 1
                body = exposition(eof=exporter.rate * exporter.scrapes).encode()
                self.send_response(200)
                self.send_header("Content-Type", "text/plain; version=0.0.4")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                pass

        class Server(ThreadingHTTPServer):
            def handle_error(self, request: Any, client_address: Any) -> None:
                pass  # a scraper that gave up on a slow answer is not this test's business

        self.server = Server(("127.0.0.1", 0), Handler)
        self.address = f"127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join()


@pytest.fixture
def exporters() -> Iterator[Callable[[float], Exporter]]:
    made: list[Exporter] = []

    def make(rate: float) -> Exporter:
        made.append(Exporter(rate))
        return made[-1]

    yield make
    for exporter in made:
        exporter.close()


def test_live_endpoints_are_scraped_at_both_ends_of_the_window(
    cli: CLI, exporters: Callable[[float], Exporter]
) -> None:
    base = [exporters(0.0) for _ in range(3)]
    cand = [exporters(5.0) for _ in range(3)]
    urls = [f"http://{e.address}/metrics" for e in base + cand]
    run = compare(cli, urls[:3], urls[3:], "--duration", "0.3", "--json")
    assert run.code == 1, run
    assert json.loads(run.out)["regressions"] == [CRITICAL]
    assert all(e.scrapes == 2 for e in base + cand)
    run = compare(cli, urls[:3], [u for u in urls[:3]], "--duration", "0.1")
    assert run.code == 2 and "in both cohorts" in run.err


@pytest.mark.slow
def test_a_real_prometheus_server_feeds_the_comparison(
    cli: CLI, exporters: Callable[[float], Exporter], prometheus: Callable[..., Any]
) -> None:
    base = [exporters(0.0) for _ in range(3)]
    cand = [exporters(2.0) for _ in range(3)]
    server = prometheus({"a": [e.address for e in base], "b": [e.address for e in cand]})
    server.wait_scraped(targets=6, samples=4)
    src = server.url.replace("http://", "prom+http://")
    a, b = (
        f'{src}?selector={{job="fleet",cohort="a"}}',
        f'{src}?selector={{cohort="b"}}&by=instance',
    )
    run = compare(cli, [a], [b], "--duration", "10", "--json")
    assert run.code == 1, run
    report = json.loads(run.out)
    assert report["regressions"] == [CRITICAL]
    assert sorted(report["candidate"]) == sorted(e.address for e in cand)
    eof = next(m for m in report["metrics"] if m["metric"] == CRITICAL)
    assert eof["baseline"] == 0 and eof["candidate"] > 0
    # Same cohort on both sides: the same instances, refused.
    run = compare(cli, [a], [f'{src}?selector={{cohort="a",job="fleet"}}'], "--duration", "10")
    assert run.code == 2 and "is in both cohorts" in run.err, run
    run = compare(cli, [a], [f'{src}?selector={{cohort="nope"}}'], "--duration", "10")
    assert run.code == 2 and "matched no series" in run.err, run
    # One scrape a second: a 0.5 s window holds one sample or, on a slow scrape, none.
    run = compare(cli, [a], [b], "--duration", "0.5")
    assert run.code == 2, run
    assert re.search(r"(fewer than 2 samples|matched no series) in the last 0\.5 s", run.err), run


@pytest.mark.parametrize("missing", ["scipy", "prometheus_client"])
def test_without_the_metrics_extra_it_says_how_to_install_it(tmp_path: Path, missing: str) -> None:
    base = files(tmp_path, "b", [exposition()] * 3)
    cand = files(tmp_path, "c", [exposition()] * 3)
    code = (
        "import sys\n"
        "class Block:\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        f"        if name.split('.')[0] == {missing!r}:\n"
        "            raise ImportError(name)\n"
        "sys.meta_path.insert(0, Block())\n"
        "import migrate\n"
        "sys.exit(migrate.main(sys.argv[1:]))\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code, "compare", "--baseline", *base, "--candidate", *cand],
        capture_output=True, text=True, timeout=60, check=False, cwd=tmp_path,
    )  # fmt: skip
    assert proc.returncode == 2, proc
    assert proc.stderr == (
        f"migrate compare: error: migrate compare needs {missing}: "
        "pip install 'migrate-toolkit[metrics]'\n"
    )
