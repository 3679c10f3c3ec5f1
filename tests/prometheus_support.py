"""A real Prometheus server for the telemetry tests (Debian's ``prometheus``; .ci/run installs it)."""

from __future__ import annotations

import json
import socket
import subprocess
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any


def free_port() -> int:
    """Return a loopback TCP port that was free a moment ago."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class Prometheus:
    """A real Prometheus server on a free loopback port, scraping the given targets every second.

    ``targets`` maps a cohort name to ``host:port`` metrics endpoints; each
    target gets the labels ``job="fleet"`` and ``cohort=<name>``. Storage is
    a temporary directory; ``stop()`` ends the process.
    """

    def __init__(self, binary: str, workdir: Path, targets: dict[str, list[str]]) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        config = {
            "global": {"scrape_interval": "1s", "scrape_timeout": "1s"},
            "scrape_configs": [
                {
                    "job_name": "fleet",
                    "static_configs": [
                        {"targets": hosts, "labels": {"cohort": cohort}}
                        for cohort, hosts in targets.items()
                    ],
                }
            ],
        }
        config_file = workdir / "prometheus.yml"
        config_file.write_text(json.dumps(config))  # JSON is YAML
        self.log = workdir / "prometheus.log"
        with self.log.open("wb") as log:
            self._proc = subprocess.Popen(
                [
                    binary,
                    f"--config.file={config_file}",
                    f"--storage.tsdb.path={workdir / 'data'}",
                    f"--web.listen-address=127.0.0.1:{self.port}",
                    "--log.level=warn",
                ],
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        try:
            self._wait(lambda: self._get("/-/ready") is not None, 30, "to become ready")
        except BaseException:
            self.stop()
            raise

    def _get(self, path: str) -> bytes | None:
        try:
            with urllib.request.urlopen(self.url + path, timeout=2) as response:
                body: bytes = response.read()
                return body
        except OSError:
            return None

    def _wait(self, done: Callable[[], bool], within: float, what: str) -> None:
        deadline = time.monotonic() + within
        while not done():
            if self._proc.poll() is not None:
                raise AssertionError(f"prometheus exited: {self.log.read_text()[-2000:]}")
            if time.monotonic() > deadline:
                raise AssertionError(f"prometheus failed {what} within {within} s")
            time.sleep(0.2)

    def query(self, promql: str) -> list[Any]:
        """Return the result list of an instant query."""
        body = self._get("/api/v1/query?" + urllib.parse.urlencode({"query": promql}))
        if body is None:
            return []
        result: list[Any] = json.loads(body)["data"]["result"]
        return result

    def raw_query(self, promql: str) -> dict[str, Any]:
        """Return Prometheus's whole answer to an instant query, errors included."""
        url = f"{self.url}/api/v1/query?" + urllib.parse.urlencode({"query": promql})
        try:
            with urllib.request.urlopen(url, timeout=5) as response:
                answer: dict[str, Any] = json.loads(response.read())
        except urllib.error.HTTPError as exc:
            answer = json.loads(exc.read())
            exc.close()
        return answer

    def wait_scraped(self, targets: int, samples: int, within: float = 60.0) -> None:
        """Wait until ``targets`` targets are up and each has ``samples`` scrapes stored."""

        def ready() -> bool:
            up = self.query("count_over_time(up[5m]) and up == 1")
            return len(up) >= targets and all(float(r["value"][1]) >= samples for r in up)

        self._wait(ready, within, f"to scrape {targets} targets {samples} times")

    def stop(self) -> None:
        if self._proc.poll() is None:
            self._proc.terminate()
            try:
                self._proc.wait(10)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait()
