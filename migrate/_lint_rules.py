"""What ``migrate check`` looks for and reports: rule codes, name tables, messages, findings.

The tables are qualified names (``time.sleep``, not ``sleep``): the lint
engine resolves every call through the file's imports first, so aliased
imports (``from time import sleep as nap``) match and look-alikes
(``self.sleep``, a local ``sleep``) do not.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["CODES", "LEGACY", "FileAnalysis", "Finding", "coroutine_left_message"]

LEGACY = "legacy.runtime"

# Stable codes: never renumber, only add.
CODES: dict[str, str] = {
    "MIG000": "file could not be read or parsed",
    "MIG001": "`is_closing()` used as a liveness check",
    "MIG002": "blocking call inside a coroutine",
    "MIG003": "legacy runtime API left in a service already flipped to asyncio/uvloop",
    "MIG004": "`spawn`/`create_task` result dropped on the floor",
    "MIG005": "`await writer.drain()` without a deadline",
    "MIG006": "generator-coroutine decorator left (`asyncio.coroutine` is gone in Python 3.11)",
}

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

# legacy.runtime name -> shim equivalent (DESIGN.md table).
SHIM_EQUIVALENTS: dict[str, str] = {
    "run": "`shims.run(main)`",
    "spawn": "`shims.spawn(coro)`",
    "sleep": "`await shims.sleep(s)`",
    "wait_all": "`await shims.gather(a, b)`",
    "with_timeout": "`await shims.wait_for(aw, s)`",
    "call_later": "`shims.call_later(s, fn, *args)`",
    "Lock": "`shims.Lock()`",
    "Event": "`shims.Event()`",
    "Channel": "`shims.Queue(capacity)`",
    "Timeout": "the builtin `TimeoutError`",
    "monotonic": "`shims.monotonic()`",
    "connect": "`await shims.connect(host, port, timeout=t)`",
    "listen": "`await shims.serve(handler, host, port)`",
    "coroutine": "`async def` with `await` (`migrate codemod generators-to-async`)",
}


def coroutine_left_message(name: str, preset: str, *, call: bool) -> str:
    """Explain MIG006 for a use of ``name``, the coroutine decorator of ``preset``."""
    use = f"`{name}(...)` called" if call else f"`@{name}`"
    why = (
        "AttributeError when this runs on Python 3.11+ (asyncio.coroutine was removed)"
        if preset == "asyncio"
        else "the service cannot flip to asyncio while it is there"
    )
    return (
        f"{use} left: {why}; run `migrate codemod generators-to-async --preset {preset}` "
        "or make it `async def` by hand"
    )


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
    member = name[len(LEGACY) + 1 :] if name.startswith(LEGACY + ".") else ""
    equivalent = SHIM_EQUIVALENTS.get(member.partition(".")[0])
    instead = f"use {equivalent}" if equivalent else "use the shims equivalent"
    return (
        f"`{name}` used in a service already flipped to asyncio/uvloop: it bypasses the "
        f"backend flag; {instead}, or run `migrate codemod legacy-to-shim`"
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
    hand_work: int = 0  # Twisted Protocol/Factory classes (see _preset_tables)
