"""What ``migrate check`` looks for and reports: the rules, name tables, messages, findings.

A rule is declared and registered here (``register(Rule(...))``, which fills
``CODES``) and detected by the lint engine's walk (``engine``). Each rule
declares its trigger words: a file containing none of any rule's words is
not parsed at all, so a rule cannot be registered without them.

The tables are qualified names (``time.sleep``, not ``sleep``): the lint
engine resolves every call through the file's imports first, so aliased
imports (``from time import sleep as nap``) match and look-alikes
(``self.sleep``, a local ``sleep``) do not.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["CODES", "LEGACY", "RULES", "TRIGGERS", "FileAnalysis", "Finding", "Rule", "register"]

LEGACY = "legacy.runtime"  # the bundled legacy-to-shim spec's source (a test checks it)


@dataclass(frozen=True)
class Rule:
    """One lint rule: its stable code, what it finds, and when it can fire at all.

    ``triggers``: words at least one of which is in every file the rule can
    fire on; a file containing no registered rule's trigger is only
    syntax-checked, never walked. ``example``: a file the rule fires on
    (analysed as part of a flipped service), run by the tests with the
    triggers checked against it.
    """

    code: str
    summary: str
    triggers: tuple[str, ...]
    example: str


# Stable codes: never renumber, only add. MIG000 is the engine's own (bad input).
CODES: dict[str, str] = {"MIG000": "file could not be read or parsed"}
RULES: dict[str, Rule] = {}


def register(rule: Rule) -> Rule:
    """Add ``rule`` to the rules ``migrate check`` runs and lists; return it.

    Raises:
        ValueError: the rule declares no trigger word, or its code is malformed or taken.
    """
    if not (len(rule.code) == 6 and rule.code.startswith("MIG") and rule.code[3:].isdigit()):
        raise ValueError(f"a lint rule code looks like 'MIG006', got {rule.code!r}")
    if rule.code in CODES:
        raise ValueError(f"lint rule code {rule.code!r} is already taken by {CODES[rule.code]!r}")
    if not rule.triggers or not all(isinstance(t, str) and t for t in rule.triggers):
        raise ValueError(
            f"lint rule {rule.code} declares no trigger words ({rule.triggers!r}); a file "
            "without any rule's trigger word is never walked, so list the words every "
            "file it fires on contains"
        )
    RULES[rule.code] = rule
    CODES[rule.code] = rule.summary
    return rule


register(
    Rule(
        "MIG001",
        "`is_closing()` used as a liveness check",
        triggers=("is_closing",),
        example="async def alive(transport):\n    return not transport.is_closing()\n",
    )
)
register(
    Rule(
        "MIG002",
        "blocking call inside a coroutine",
        triggers=("async", "coroutine"),  # inside `async def` or a generator coroutine's decorator
        example="import time\n\nasync def tick():\n    time.sleep(1)\n",
    )
)
register(
    Rule(
        "MIG003",
        "legacy runtime API left in a service already flipped to asyncio/uvloop",
        triggers=(LEGACY.partition(".")[0],),  # every import form spells the top package
        example="from legacy import runtime\n\nruntime.run(main)\n",
    )
)
register(
    Rule(
        "MIG004",
        "`spawn`/`create_task` result dropped on the floor",
        triggers=("spawn", "create_task", "ensure_future"),
        example="import asyncio\n\nasync def main():\n    asyncio.create_task(work())\n",
    )
)
register(
    Rule(
        "MIG005",
        "`await writer.drain()` without a deadline",
        triggers=("drain",),
        example="async def send(writer, data):\n    writer.write(data)\n    await writer.drain()\n",
    )
)

register(
    Rule(
        "MIG006",
        "generator-coroutine decorator left (`asyncio.coroutine` is gone in Python 3.11)",
        triggers=("coroutine",),  # the decorators' own name, and the modules they live in
        example="import asyncio\n\n@asyncio.coroutine\ndef fetch():\n    yield from work()\n",
    )
)

#: A file containing none of these words cannot trigger any rule: it is not parsed.
TRIGGERS = tuple(sorted({t for rule in RULES.values() for t in rule.triggers}))

_THREAD = "or run it off the loop with `await asyncio.to_thread(...)`"
_SUBPROCESS = "use `await asyncio.create_subprocess_exec(...)`"
_HTTP = f"use an async HTTP client (e.g. httpx.AsyncClient) {_THREAD}"
_DNS = f"use `await asyncio.get_running_loop().getaddrinfo(...)` {_THREAD}"

# qualified name -> what to do instead
BLOCKING_CALLS: dict[str, str] = {
    "time.sleep": "use `await shims.sleep(...)` (or `await asyncio.sleep(...)`)",
    "socket.create_connection": "use `await shims.connect(host, port, timeout=...)`",
    "socket.getaddrinfo": _DNS,
    "socket.gethostbyname": _DNS,
    "socket.gethostbyname_ex": _DNS,
    "socket.gethostbyaddr": _DNS,
    "socket.getnameinfo": _DNS,
    "socket.getfqdn": _DNS,
    "urllib.request.urlopen": _HTTP,
    "urllib.request.urlretrieve": _HTTP,
    "subprocess.run": _SUBPROCESS,
    "subprocess.call": _SUBPROCESS,
    "subprocess.check_call": _SUBPROCESS,
    "subprocess.check_output": _SUBPROCESS,
    "subprocess.getoutput": _SUBPROCESS,
    "subprocess.getstatusoutput": _SUBPROCESS,
    "os.system": _SUBPROCESS,
    "os.wait": _SUBPROCESS,
    "os.waitpid": _SUBPROCESS,
}
for _client in ("requests", "httpx"):
    for _verb in ("get", "post", "put", "patch", "delete", "head", "options", "request"):
        BLOCKING_CALLS[f"{_client}.{_verb}"] = _HTTP

# Methods that block on a plain (blocking-mode) socket.
SOCKET_METHODS = frozenset(
    {"recv", "recv_into", "recvfrom", "recvfrom_into", "recvmsg", "send", "sendall",
     "sendto", "sendmsg", "sendfile", "connect", "accept"}
)  # fmt: skip
SOCKET_MAKERS = frozenset(
    {"socket.socket", "socket.create_connection", "socket.create_server", "socket.fromfd"}
)
SOCKET_PAIR_MAKERS = frozenset({"socket.socketpair"})
HTTP_SESSION_MAKERS = frozenset({"requests.Session", "requests.session", "httpx.Client"})
_HTTP_METHODS = frozenset(
    {"get", "post", "put", "patch", "delete", "head", "options", "request", "send", "stream"}
)
# kind of blocking object -> its methods that block
BLOCKING_METHODS: dict[str, frozenset[str]] = {"socket": SOCKET_METHODS, "http": _HTTP_METHODS}
OBJECT_METHODS = SOCKET_METHODS | _HTTP_METHODS

SPAWN_CALLS = frozenset(
    {"shims.spawn", "asyncio.create_task", "asyncio.ensure_future", f"{LEGACY}.spawn"}
)
LOOP_GETTERS = frozenset(
    {"asyncio.get_event_loop", "asyncio.get_running_loop", "asyncio.new_event_loop"}
)
TIMEOUT_SCOPES = frozenset(
    {"asyncio.timeout", "asyncio.timeout_at", "shims.timeout", "async_timeout.timeout",
     "anyio.fail_after", "anyio.move_on_after"}
)  # fmt: skip


def is_closing_message(receiver: str) -> str:
    """Explain MIG001 for ``receiver.is_closing()``."""
    return (
        f"`{receiver}.is_closing()` is not a liveness check: asyncio and uvloop keep a "
        "TCP transport open after the peer's FIN, so it stays False on a dead "
        "connection; use `Connection.closed()` (or `is_connected()`) from shims"
    )


def blocking_message(name: str, *, kind: str = "") -> str:
    """Explain MIG002 for a call to ``name`` (``kind``: a method of a tracked object)."""
    if kind == "socket":
        advice = (
            "use a shims Connection (`await shims.connect(...)`) or set the socket non-blocking"
        )
    elif kind == "http":
        advice = _HTTP
    else:
        advice = BLOCKING_CALLS[name]
    return f"`{name}()` blocks the event loop inside a coroutine; {advice}"


def legacy_message(name: str) -> str:
    """Explain MIG003 for a use of ``name`` (a ``legacy.runtime`` qualified name)."""
    from .legacy import legacy_advice  # the codemods' own tables: libcst, lint time only

    member = name[len(LEGACY) + 1 :] if name.startswith(LEGACY + ".") else ""
    return (
        f"`{name}` used in a service already flipped to asyncio/uvloop: it bypasses the "
        f"backend flag; {legacy_advice(member.partition('.')[0])}"
    )


def spawn_message(name: str) -> str:
    """Explain MIG004 for a dropped ``name(...)`` result."""
    return (
        f"result of `{name}(...)` is dropped: the task can be garbage-collected "
        "mid-flight and its exception is never seen; keep a reference and await it "
        "(or use a TaskGroup)"
    )


@dataclass(frozen=True, order=True)
class Finding:
    """One lint result; ``line`` and ``col`` are 1-based (as editors expect)."""

    code: str
    line: int
    col: int
    message: str
    filename: str

    def format(self) -> str:
        """Return the ``path:line:col: CODE message`` line ``migrate check`` prints."""
        return f"{self.filename}:{self.line}:{self.col}: {self.code} {self.message}"


@dataclass(frozen=True)
class FileAnalysis:
    """Everything one walk of a file yields, for ``check`` and ``scan``.

    ``findings`` are already filtered by suppression comments and include
    MIG003 only when the file was analysed as ``flipped``; ``legacy_sites``
    and ``generator_coroutines`` are counted either way.
    """

    findings: tuple[Finding, ...]
    legacy_sites: int
    generator_coroutines: int
    hand_work: int = 0  # Twisted Protocol/Factory classes (see _lint/legacy.py)
