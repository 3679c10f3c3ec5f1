"""The conformance suite has teeth: it passes on every backend and catches each broken variant.

Each variant in tests/testing/broken_variants.py puts one post-mortem bug
back into the asyncio backend; the suite, run on asyncio with that variant
loaded, must fail the scenario named for that bug.  All runs are separate
``pytest --pyargs shims.testing.conformance`` processes, started together
(a few at a time) so the whole check takes well under two minutes.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

import shims

ROOT = Path(__file__).resolve().parent.parent
VARIANTS_DIR = ROOT / "tests" / "testing"

# variant -> the scenario that is named for its bug and must fail
CAUGHT_BY = {
    "closed_from_is_closing": "test_idle_peer_fin_makes_closed_true",
    "connected_flag_set_on_dial": "test_accepted_connection_is_connected",
    "unread_check_on_duplex": "test_duplex_connection_with_unread_data_is_reused",
    "pool_hands_out_closed": "test_pool_never_hands_out_a_closed_connection",
    "reconnect_leaks_slot": "test_reconnect_errors_release_the_slot_and_the_socket",
    "on_close_local_only": "test_on_close_runs_on_peer_fin",
    "write_without_deadline": "test_write_to_a_peer_that_stopped_reading_times_out",
    "reset_reported_as_fin": "test_peer_reset_while_idle",
}
BASELINE = "none"
PARALLEL = 4
RUN_TIMEOUT = 150.0


@dataclass
class Run:
    """One conformance run: which tests failed (or errored), which passed, its output."""

    returncode: int
    failed: set[str]
    passed: set[str]
    output: str


def _command(variant: str, junit: Path) -> tuple[list[str], dict[str, str]]:
    args = [sys.executable, "-m", "pytest", "--pyargs", "shims.testing.conformance"]
    args += ["-q", "-p", "no:cacheprovider", f"--junitxml={junit}", "-o", "timeout=60"]
    env = dict(os.environ)
    if variant == BASELINE:
        args += ["--backends", ",".join(shims.backends.names())]
    else:
        args += ["--backends", "asyncio", "-p", "broken_variants"]
        env["SHIMS_BROKEN_VARIANT"] = variant
        env["SHIMS_CONFORMANCE_PATIENCE"] = "0.5"  # a broken backend never sees the event
        env["PYTHONPATH"] = os.pathsep.join(
            filter(None, [str(VARIANTS_DIR), env.get("PYTHONPATH")])
        )
    return args, env


def _parse(junit: Path) -> tuple[set[str], set[str]]:
    failed, passed = set(), set()
    for case in ET.parse(junit).getroot().iter("testcase"):
        name = case.get("name", "")
        if case.find("failure") is not None or case.find("error") is not None:
            failed.add(name)
        elif case.find("skipped") is None:
            passed.add(name)
    return failed, passed


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Run]]:
    """Run the suite once unbroken (all backends) and once per variant (asyncio)."""
    tmp = tmp_path_factory.mktemp("teeth")
    pending = [BASELINE, *CAUGHT_BY]
    active: dict[str, tuple[subprocess.Popen[bytes], Path, float]] = {}
    results: dict[str, Run] = {}
    try:
        while pending or active:
            while pending and len(active) < PARALLEL:
                variant = pending.pop(0)
                args, env = _command(variant, tmp / f"{variant}.xml")
                with open(tmp / f"{variant}.log", "wb") as log:  # a file: a pipe could fill up
                    proc = subprocess.Popen(args, cwd=ROOT, env=env, stdout=log, stderr=log)
                active[variant] = (proc, tmp / f"{variant}.xml", time.monotonic())
            for variant, (proc, junit, started) in list(active.items()):
                if proc.poll() is None:
                    if time.monotonic() - started > RUN_TIMEOUT:
                        proc.kill()
                    continue
                output = (tmp / f"{variant}.log").read_text(errors="replace")
                failed, passed = _parse(junit) if junit.exists() else (set(), set())
                results[variant] = Run(proc.returncode, failed, passed, output)
                del active[variant]
            time.sleep(0.05)
        yield results
    finally:
        for proc, _junit, _started in active.values():
            proc.kill()
            proc.wait()


@pytest.mark.timeout(300)
def test_suite_passes_on_every_backend(runs: dict[str, Run]) -> None:
    run = runs[BASELINE]
    assert run.returncode == 0 and not run.failed, run.output[-4000:]
    for backend in shims.backends.names():  # every installed backend, twisted included
        assert any(name.endswith(f"[{backend}]") for name in run.passed), backend
    for scenario in CAUGHT_BY.values():  # each named scenario passes when nothing is broken
        assert f"{scenario}[asyncio]" in run.passed, scenario


@pytest.mark.timeout(300)
@pytest.mark.parametrize("variant", sorted(CAUGHT_BY))
def test_broken_variant_is_caught_by_its_scenario(runs: dict[str, Run], variant: str) -> None:
    run = runs[variant]
    scenario = f"{CAUGHT_BY[variant]}[asyncio]"
    assert run.passed, f"{variant}: the suite did not run:\n{run.output[-4000:]}"
    assert scenario in run.failed, (
        f"variant {variant!r} was not caught by {scenario}; failed: {sorted(run.failed)}\n"
        + run.output[-4000:]
    )
