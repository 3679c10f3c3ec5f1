"""The lint rules, as tables of source snippets and the (code, line) pairs they must give.

Each code has positive cases, cases that must not fire (the false positives a
naive rule would have), aliased-import cases and suppressed cases.
"""

from __future__ import annotations

import dataclasses
import textwrap

import pytest

from migrate import Finding, lint_source
from migrate._check import CODES
from migrate._lints import analyze_source


def found(source: str, *, flipped: bool = False) -> list[tuple[str, int]]:
    """Return the (code, line) pairs ``lint_source`` reports for ``source``."""
    findings = lint_source(textwrap.dedent(source), "snippet.py", flipped=flipped)
    return [(f.code, f.line) for f in findings]


MIG001 = [
    pytest.param(
        """
        async def send(writer, data):
            if writer.is_closing():
                return
        """,
        [("MIG001", 3)],
        id="if-test",
    ),
    pytest.param(
        """
        class Conn:
            def closed(self):
                return self._writer.is_closing()
        """,
        [("MIG001", 4)],
        id="the-post-mortem-closed",
    ),
    pytest.param("def alive(w):\n    return not w.is_closing()\n", [("MIG001", 2)], id="not"),
    pytest.param(
        "def f(x):\n    return x.transport.is_closing()\n", [("MIG001", 2)], id="chained-receiver"
    ),
    pytest.param(
        "async def f(w):\n    while not w.is_closing():\n        pass\n",
        [("MIG001", 2)],
        id="while",
    ),
    pytest.param("ok = w.is_closing() is False\n", [("MIG001", 1)], id="comparison"),
    pytest.param("assert not w.is_closing()\n", [("MIG001", 1)], id="assert"),
    pytest.param(
        "if not a.is_closing():\n    b.close()\n", [("MIG001", 1)], id="guard-closes-other-object"
    ),
    pytest.param(
        "if not t.is_closing():\n    t.write(b'x')\n", [("MIG001", 1)], id="guard-before-write"
    ),
    # no false positives
    pytest.param("if not t.is_closing():\n    t.close()\n", [], id="guard-before-close"),
    pytest.param(
        "if not self._t.is_closing():\n    self._t.abort()\n", [], id="guard-before-abort"
    ),
    pytest.param("w.is_closing()\n", [], id="result-unused"),
    pytest.param("def is_closing(self):\n    return False\n", [], id="definition"),
    pytest.param("if x.is_closing(1):\n    pass\n", [], id="not-the-asyncio-signature"),
    pytest.param("if conn.closed():\n    pass\n", [], id="the-fix"),
    # suppressed
    pytest.param("if w.is_closing():  # migrate: ignore[MIG001]\n    pass\n", [], id="suppressed"),
    pytest.param(
        "if w.is_closing():  # migrate: ignore[MIG002]\n    pass\n",
        [("MIG001", 1)],
        id="suppressing-another-code",
    ),
]


@pytest.mark.parametrize(("source", "expected"), MIG001)
def test_mig001_is_closing_liveness(source: str, expected: list[tuple[str, int]]) -> None:
    assert found(source) == expected


MIG002 = [
    pytest.param(
        """
        import time
        async def handler():
            time.sleep(1)
        """,
        [("MIG002", 4)],
        id="time.sleep",
    ),
    pytest.param(
        "from time import sleep as nap\nasync def f():\n    nap(1)\n",
        [("MIG002", 3)],
        id="aliased-from-import",
    ),
    pytest.param(
        "import time as t\nasync def f():\n    t.sleep(1)\n", [("MIG002", 3)], id="aliased-module"
    ),
    pytest.param(
        "import requests\nasync def f(u):\n    return requests.get(u).json()\n",
        [("MIG002", 3)],
        id="requests",
    ),
    pytest.param(
        "from urllib.request import urlopen\nasync def f(u):\n    urlopen(u)\n",
        [("MIG002", 3)],
        id="urlopen",
    ),
    pytest.param(
        "import subprocess\nasync def f():\n    subprocess.run(['ls'])\n",
        [("MIG002", 3)],
        id="subprocess",
    ),
    pytest.param(
        """
        import socket
        async def f(addr):
            with socket.create_connection(addr) as s:
                s.sendall(b"x")
        """,
        [("MIG002", 4), ("MIG002", 5)],
        id="create_connection-and-its-socket",
    ),
    pytest.param(
        """
        import socket
        async def f(addr):
            s = socket.socket()
            s.connect(addr)
            conn, _ = s.accept()
            conn.recv(10)
        """,
        [("MIG002", 5), ("MIG002", 6), ("MIG002", 7)],
        id="plain-socket-and-accepted",
    ),
    pytest.param(
        """
        from socket import socket as mksock
        class Client:
            def __init__(self):
                self.sock = mksock()
            async def read(self):
                return self.sock.recv(10)
        """,
        [("MIG002", 7)],
        id="socket-attribute-aliased",
    ),
    pytest.param(
        """
        import requests
        async def fetch(urls):
            with requests.Session() as http:
                return [http.get(u) for u in urls]
        """,
        [("MIG002", 5)],
        id="requests-session",
    ),
    pytest.param(
        """
        import httpx
        class Client:
            def __init__(self):
                self.http: httpx.Client = httpx.Client()
            async def fetch(self, url):
                return self.http.post(url)
        """,
        [("MIG002", 7)],
        id="httpx-client-attribute",
    ),
    pytest.param(
        """
        import time
        from legacy import runtime
        @runtime.coroutine
        def legacy_handler():
            time.sleep(1)
            yield runtime.sleep(1)
        """,
        [("MIG006", 4), ("MIG002", 6)],
        id="generator-coroutine",
    ),
    # no false positives
    pytest.param("import time\ndef f():\n    time.sleep(1)\n", [], id="sync-def"),
    pytest.param(
        "import time\nasync def f():\n    def inner():\n        time.sleep(1)\n    return inner\n",
        [],
        id="nested-sync-def",
    ),
    pytest.param(
        "import time\nasync def f(loop):\n    await loop.run_in_executor(None, lambda: time.sleep(1))\n",
        [],
        id="lambda-for-executor",
    ),
    pytest.param(
        "import asyncio, time\nasync def f():\n    await asyncio.to_thread(time.sleep, 1)\n",
        [],
        id="passed-not-called",
    ),
    pytest.param(
        """
        import socket
        async def f(loop):
            s = socket.socket()
            s.setblocking(False)
            s.recv(10)
        """,
        [],
        id="non-blocking-socket",
    ),
    pytest.param("async def f(conn):\n    conn.recv(10)\n", [], id="unknown-receiver"),
    pytest.param("async def f(self):\n    self.sleep(1)\n", [], id="method-named-sleep"),
    pytest.param(
        "import time\nasync def f(time):\n    time.sleep(1)\n", [], id="parameter-shadows-import"
    ),
    pytest.param(
        "from time import sleep\nasync def f(clock):\n    sleep = clock.sleep\n    sleep(1)\n",
        [],
        id="local-shadows-import",
    ),
    pytest.param("def sleep(s): ...\nasync def f():\n    sleep(1)\n", [], id="local-sleep"),
    pytest.param(
        "from asyncio import sleep\nasync def f():\n    await sleep(1)\n", [], id="asyncio-sleep"
    ),
    pytest.param(
        "import requests\nasync def f():\n    return requests.Session()\n", [], id="session-ctor"
    ),
    pytest.param(
        "import httpx\nasync def f(u):\n    async with httpx.AsyncClient() as c:\n        await c.get(u)\n",
        [],
        id="async-http-client",
    ),
    pytest.param(
        "import socket\nasync def f():\n    s = socket.socket()\n    s.get(1)\n",
        [],
        id="socket-has-no-get",
    ),
    # suppressed
    pytest.param(
        "import time\nasync def f():\n    time.sleep(1)  # migrate: ignore[MIG002]\n",
        [],
        id="suppressed",
    ),
    pytest.param(
        "import time\nasync def f():\n    time.sleep(1)  # migrate: ignore[MIG001, MIG002]\n",
        [],
        id="suppressed-list",
    ),
    pytest.param(
        "import time\nasync def f():\n    time.sleep(1)  # migrate: ignore\n", [], id="bare"
    ),
    pytest.param(
        "import time\nasync def f():\n    s = '# migrate: ignore'; time.sleep(1)\n",
        [("MIG002", 3)],
        id="marker-in-a-string-is-not-a-comment",
    ),
]


@pytest.mark.parametrize(("source", "expected"), MIG002)
def test_mig002_blocking_call_in_coroutine(source: str, expected: list[tuple[str, int]]) -> None:
    assert found(source) == expected


MIG003 = [
    pytest.param(
        "from legacy import runtime\nasync def f():\n    await runtime.sleep(1)\n",
        [("MIG003", 3)],
        id="from-import",
    ),
    pytest.param(
        "import legacy.runtime as rt\nasync def f():\n    t = rt.spawn(g())\n",
        [("MIG003", 3)],
        id="import-as",
    ),
    pytest.param(
        "import legacy.runtime\nx = legacy.runtime.monotonic()\n",
        [("MIG003", 2)],
        id="dotted-import",
    ),
    pytest.param(
        "from legacy.runtime import sleep as lsleep\nasync def f():\n    await lsleep(1)\n",
        [("MIG003", 3)],
        id="member-aliased",
    ),
    pytest.param(
        "from legacy import runtime\n@runtime.coroutine\ndef g():\n    yield 1\n",
        [("MIG003", 2)],
        id="decorator",
    ),
    pytest.param("from legacy.runtime import *\n", [("MIG003", 1)], id="star-import"),
    pytest.param("import legacy.runtime\n", [("MIG003", 1)], id="unused-import"),
    pytest.param(
        "def f():\n    from legacy import runtime\n    return runtime.Lock()\n",
        [("MIG003", 3)],
        id="import-inside-function",
    ),
    # no false positives
    pytest.param("import legacy\nx = legacy.other\n", [], id="other-legacy-module"),
    pytest.param("async def f(runtime):\n    await runtime.sleep(1)\n", [], id="unimported-name"),
    pytest.param("x = 'legacy.runtime.sleep'\n", [], id="string"),
    pytest.param("import shims\nasync def f():\n    await shims.sleep(1)\n", [], id="the-fix"),
    # suppressed
    pytest.param(
        "from legacy import runtime  # migrate: ignore[MIG003]\n", [], id="suppressed-import"
    ),
]


@pytest.mark.parametrize(("source", "expected"), MIG003)
def test_mig003_legacy_api_in_flipped_service(source: str, expected: list[tuple[str, int]]) -> None:
    assert [f for f in found(source, flipped=True) if f[0] == "MIG003"] == expected
    assert [f for f in found(source, flipped=False) if f[0] == "MIG003"] == []


def test_mig003_message_names_the_shim_equivalent() -> None:
    [finding] = lint_source(
        "from legacy import runtime as rt\nq = rt.Channel(4)\n", "x.py", flipped=True
    )
    assert "legacy.runtime.Channel" in finding.message
    assert "shims.Queue(capacity)" in finding.message


MIG004 = [
    pytest.param("import shims\nshims.spawn(work())\n", [("MIG004", 2)], id="shims.spawn"),
    pytest.param(
        "import asyncio\nasync def f():\n    asyncio.create_task(g())\n",
        [("MIG004", 3)],
        id="asyncio.create_task",
    ),
    pytest.param(
        "import asyncio\nasyncio.ensure_future(g())\n", [("MIG004", 2)], id="ensure_future"
    ),
    pytest.param("async def f(loop):\n    loop.create_task(g())\n", [("MIG004", 2)], id="loop"),
    pytest.param(
        "async def f(self):\n    self._loop.create_task(g())\n", [("MIG004", 2)], id="self-loop"
    ),
    pytest.param(
        "import asyncio\nasync def f():\n    asyncio.get_running_loop().create_task(g())\n",
        [("MIG004", 3)],
        id="get_running_loop",
    ),
    pytest.param(
        "from legacy import runtime\nruntime.spawn(g())\n", [("MIG004", 2)], id="runtime.spawn"
    ),
    pytest.param("from shims import spawn as go\ngo(g())\n", [("MIG004", 2)], id="aliased"),
    # no false positives
    pytest.param("import asyncio\nt = asyncio.create_task(g())\n", [], id="kept"),
    pytest.param(
        "import asyncio\ntasks.append(asyncio.create_task(g()))\n", [], id="stored-in-list"
    ),
    pytest.param(
        "import asyncio\nasync def f():\n    await asyncio.create_task(g())\n", [], id="awaited"
    ),
    pytest.param(
        """
        import asyncio
        async def f():
            async with asyncio.TaskGroup() as tg:
                tg.create_task(g())
        """,
        [],
        id="task-group",
    ),
    pytest.param("def f(self):\n    self.spawn(g())\n", [], id="own-method"),
    # suppressed
    pytest.param(
        "import asyncio\nasyncio.create_task(g())  # migrate: ignore[MIG004]\n",
        [],
        id="suppressed",
    ),
    pytest.param(
        "import asyncio\nasyncio.create_task(\n    g()\n)  # migrate: ignore[MIG004]\n",
        [],
        id="suppressed-on-the-last-line-of-a-split-call",
    ),
    pytest.param(
        "import asyncio\nasyncio.create_task(\n    g()\n)\n# migrate: ignore[MIG004]\n",
        [("MIG004", 2)],
        id="comment-after-the-call-does-not-count",
    ),
]


@pytest.mark.parametrize(("source", "expected"), MIG004)
def test_mig004_dropped_task(source: str, expected: list[tuple[str, int]]) -> None:
    assert found(source) == expected


MIG005 = [
    pytest.param("async def f(w):\n    await w.drain()\n", [("MIG005", 2)], id="bare-drain"),
    pytest.param(
        """
        import asyncio
        async def f(w):
            async with asyncio.timeout(1):
                async def inner():
                    await w.drain()
        """,
        [("MIG005", 6)],
        id="deadline-does-not-reach-a-nested-def",
    ),
    # no false positives
    pytest.param(
        "import asyncio\nasync def f(w):\n    async with asyncio.timeout(5):\n        await w.drain()\n",
        [],
        id="asyncio.timeout",
    ),
    pytest.param(
        "import shims as s\nasync def f(w):\n    async with s.timeout(5):\n        await w.drain()\n",
        [],
        id="aliased-shims.timeout",
    ),
    pytest.param(
        "import asyncio\nasync def f(w):\n    await asyncio.wait_for(w.drain(), 5)\n",
        [],
        id="wait_for",
    ),
    pytest.param(
        "async def f(w):\n    await w.drain()  # migrate: ignore[MIG005]\n", [], id="suppressed"
    ),
]


@pytest.mark.parametrize(("source", "expected"), MIG005)
def test_mig005_drain_without_deadline(source: str, expected: list[tuple[str, int]]) -> None:
    assert found(source) == expected


@pytest.mark.parametrize(
    "source",
    [
        pytest.param("def (:\n", id="no-trigger-words"),
        pytest.param("async def (:\n", id="with-trigger-words"),
        pytest.param("x = 1\x00\n", id="nul-byte"),
        pytest.param("import time\nasync def f():\n  time.sleep(1)\n    x = 2\n", id="indent"),
    ],
)
def test_unparsable_source_is_one_mig000_finding(source: str) -> None:
    [finding] = lint_source(source, "bad.py")
    assert finding.code == "MIG000"
    assert finding.message.startswith("could not parse: ")
    assert finding.filename == "bad.py"


def test_positions_are_one_based_and_formatted_like_compilers() -> None:
    [finding] = lint_source("import time\nasync def f():\n    time.sleep(1)\n", "pkg/a.py")
    assert (finding.line, finding.col) == (3, 5)
    assert finding.format().startswith("pkg/a.py:3:5: MIG002 `time.sleep()` blocks")


def test_bom_and_crlf_sources_lint_normally() -> None:
    source = "\ufeffimport time\r\nasync def f():\r\n    time.sleep(1)\r\n"
    assert [(f.code, f.line) for f in lint_source(source, "x.py")] == [("MIG002", 3)]


def test_finding_is_frozen_and_every_code_is_documented() -> None:
    finding = Finding("MIG001", 1, 1, "m", "f.py")
    with pytest.raises(dataclasses.FrozenInstanceError):
        finding.line = 2  # type: ignore[misc]
    assert set(CODES) == {"MIG000", "MIG001", "MIG002", "MIG003", "MIG004", "MIG005", "MIG006"}


MIG006 = [
    pytest.param(
        "import asyncio\n@asyncio.coroutine\ndef g():\n    yield from x\n",
        [("MIG006", 2)],
        id="asyncio-decorator",
    ),
    pytest.param(
        "from asyncio import coroutine as co\nf = co(lambda: 1)\n",
        [("MIG006", 2)],
        id="aliased-call",
    ),
    pytest.param(
        "import asyncio.coroutines\n@asyncio.coroutines.coroutine\ndef g():\n    yield\n",
        [("MIG006", 2)],
        id="submodule",
    ),
    pytest.param(
        "from tornado import gen\n@gen.coroutine\ndef g():\n    yield x\n",
        [("MIG006", 2)],
        id="tornado",
    ),
    # no false positives
    pytest.param("import types\n@types.coroutine\ndef g():\n    yield\n", [], id="types"),
    pytest.param("def f(asyncio):\n    asyncio.coroutine(g)\n", [], id="parameter"),
    pytest.param("import asyncio\nasync def f():\n    pass\n", [], id="native"),
    pytest.param(
        "import asyncio\n@asyncio.coroutine  # migrate: ignore[MIG006]\ndef g():\n    yield\n",
        [],
        id="suppressed",
    ),
]


@pytest.mark.parametrize(("source", "expected"), MIG006)
def test_mig006_generator_coroutine_decorator_left(
    source: str, expected: list[tuple[str, int]]
) -> None:
    assert found(source) == expected


def test_mig006_message_names_the_preset_and_the_python() -> None:
    [finding] = lint_source("import asyncio\nf = asyncio.coroutine(g)\n", "a.py")
    assert finding.code == "MIG006"
    assert "Python 3.11" in finding.message
    assert "--preset asyncio" in finding.message


@pytest.mark.parametrize(
    ("source", "legacy_sites", "generators"),
    [
        pytest.param(
            "from legacy import runtime\n@runtime.coroutine\ndef g():\n    yield runtime.sleep(1)\n",
            2,
            1,
            id="legacy-generator",
        ),
        pytest.param(
            "from tornado import gen\n@gen.coroutine\ndef g():\n    yield x\n", 0, 1, id="tornado"
        ),
        pytest.param(
            "import asyncio as aio\n@aio.coroutine\ndef g():\n    yield\n", 0, 1, id="asyncio"
        ),
        pytest.param("import types\n@types.coroutine\ndef g():\n    yield\n", 0, 0, id="types"),
        pytest.param("import asyncio\nf = asyncio.coroutine(g)\n", 0, 1, id="asyncio-call"),
        pytest.param("@coroutine\ndef g():\n    yield\n", 0, 0, id="unimported-decorator"),
        pytest.param("import legacy.runtime\n", 1, 0, id="only-an-import"),
        pytest.param("import shims\nasync def f():\n    await shims.sleep(1)\n", 0, 0, id="shim"),
    ],
)
def test_scan_counts(source: str, legacy_sites: int, generators: int) -> None:
    analysis = analyze_source(source, "x.py")
    assert (analysis.legacy_sites, analysis.generator_coroutines) == (legacy_sites, generators)


def test_attribute_keyword_and_parameter_names_are_not_references() -> None:
    source = textwrap.dedent(
        """
        from legacy import runtime

        class Service:
            def __init__(self, rt):
                self.runtime = rt

            def now(self, runtime=None):
                return self.runtime.monotonic(runtime=runtime)
        """
    )
    # the parameter shadows the import inside now(); only the import line is reported
    assert found(source, flipped=True) == [("MIG003", 2)]
    assert analyze_source(source, "x.py").legacy_sites == 1
