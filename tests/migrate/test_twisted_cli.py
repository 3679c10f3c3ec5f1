"""migrate and the twisted preset/spec: scan counts Protocol classes, codemod takes the preset."""

from __future__ import annotations

import os
import textwrap
from pathlib import Path

import pytest

from codemods import PRESETS
from migrate import main, scan_path
from migrate._commands.codemod import _presets
from migrate._commands.scan import render_table
from migrate._lint.legacy import GENERATOR_DECORATORS

SERVICE = """
from twisted.internet import defer, protocol
from twisted.internet.protocol import Factory as F
from twisted.protocols.basic import LineReceiver


class Echo(protocol.Protocol):
    def dataReceived(self, data):
        self.transport.write(data)


class Lines(LineReceiver):
    def lineReceived(self, line):
        self.sendLine(line)


class EchoFactory(F):
    protocol = Echo


class NotNetworking:
    pass


@defer.inlineCallbacks
def fetch(conn):
    value = yield conn.get("k")
    return value
"""


@pytest.fixture(autouse=True)
def _isolated(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for name in list(os.environ):
        if name.startswith("MIGRATE_"):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)


def test_cli_presets_and_lint_decorators_come_from_the_table() -> None:
    assert sorted(_presets()) == sorted(PRESETS)
    assert "twisted.internet.defer.inlineCallbacks" in GENERATOR_DECORATORS


def test_scan_counts_protocol_classes_as_hand_work(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text(
        '[tool.migrate.services.gateway]\nbackend = "legacy"\npaths = ["svc"]\n'
    )
    (tmp_path / "svc").mkdir()
    (tmp_path / "svc" / "a.py").write_text(textwrap.dedent(SERVICE))
    (report,) = scan_path(tmp_path)
    assert (report.hand_work, report.generator_coroutines) == (3, 1)
    assert not report.ready
    assert report.verdict == (
        "not ready: 1 generator coroutine, 3 Twisted protocol classes (hand work) left"
    )
    header, row = render_table([report]).splitlines()
    assert "HAND WORK" in header and " 3 " in row


def test_codemod_takes_the_twisted_preset_and_keep_api(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "a.py"
    path.write_text(textwrap.dedent(SERVICE))
    assert (
        main(["codemod", "generators-to-async", "--preset", "twisted", "--keep-api", str(path)])
        == 0
    )
    text = path.read_text()
    assert "def fetch(conn):\n    async def fetch(conn):" in text
    assert "return defer.ensureDeferred(fetch(conn))" in text
    assert (
        main(["codemod", "generators-to-async", "--preset", "twisted", "--check", str(path)]) == 0
    )
    capsys.readouterr()
    assert main(["codemod", "legacy-to-shim", "--keep-api", str(path)]) == 2
    assert (
        "--keep-api only applies to generators-to-async --preset twisted" in capsys.readouterr().err
    )


def test_run_report_lists_public_return_type_changes(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "a.py"
    path.write_text(textwrap.dedent(SERVICE))
    assert main(["codemod", "generators-to-async", "--preset", "twisted", str(path)]) == 0
    err = capsys.readouterr().err
    assert "0 refused" in err
    assert err.endswith(
        "public functions whose return type changed (a breaking change for callers):\n"
        f"  {path}: line 26: public API: fetch() now returns a coroutine, not a Deferred; "
        "callers outside this run must await it or wrap it in ensureDeferred (or convert "
        "with --keep-api)\n"
    )
    assert "async def fetch(conn):" in path.read_text()
