"""Presets of the generators-to-async codemod: what each generator-coroutine dialect meant.

Each preset records, as data, how its coroutine decorator treated the
function it wrapped, because that decides what the equivalent ``async def``
must say:

- ``awaits_returned``: ``@asyncio.coroutine`` awaited an awaitable returned by
  a function with no ``yield`` (``res = yield from res``), so the conversion
  must write ``return await x``. ``legacy.runtime.coroutine`` and Tornado's
  ``gen.coroutine`` hand a plain function's return value through unchanged.
- ``eager``: calling a Tornado coroutine starts it at once (it runs to its
  first ``yield`` and returns a running Future); calling an ``async def``
  only creates a coroutine object that runs when awaited. Calls that are not
  awaited right away are wrapped in ``asyncio.ensure_future`` so work that
  ran concurrently still does.
- ``bare_yield``: what a reachable bare ``yield`` is (a scheduling point in
  every dialect here) and the awaitable that replaces it.
- ``collections``: whether a yielded list (or dict) meant "wait for all".
- ``return_calls``: functions whose call, as a statement, returns from the
  coroutine (Twisted's ``returnValue(x)``, which raises a ``BaseException``).
- ``passthrough``: a yielded value that is not awaitable is handed straight
  back (``inlineCallbacks``), so a yield of a plain value is refused.
- ``wrapper``: the callable that turns a coroutine into what calling the
  decorated function returned (``defer.ensureDeferred``); every call of a
  converted function that is not awaited is wrapped in it, in any scope.
- ``consumers``: callables that iterate a generator (``task.cooperate``):
  a coroutine handed to them is refused. ``callbacks``: method names whose
  framework caller needs the decorated function's result (a Deferred), so
  an override keeps returning one (``_generators.keep``). ``hand_work``: base classes whose subclasses
  ``migrate scan`` counts as hand work (Twisted ``Protocol`` networking).
  ``runner_methods``: a regex of method names a test runner calls and
  awaits whatever they return (trial's ``test*``, ``setUp``, ``tearDown``):
  not public API whose return type matters.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["LOOP_REMOVED", "PRESETS", "Preset", "get_preset"]


@dataclass(frozen=True)
class Preset:
    """One generator-coroutine dialect and the rules for converting it."""

    name: str
    decorators: frozenset[str]
    returns: frozenset[str]
    prefilter: tuple[bytes, ...]
    awaits_returned: bool
    eager: bool
    value_yield: bool
    lists: bool
    dicts: bool
    # "asyncio" -> ``await asyncio.sleep(0)``; "legacy" -> ``await runtime.sleep(0)``
    runtime: str
    # Decorator that keeps a generator awaitable when plain generators consume it
    # with ``yield from`` (None: refuse to convert such a function).
    keep_generator_with: str | None
    drop_loop_kwarg: bool
    return_calls: frozenset[str] = frozenset()
    passthrough: bool = False
    wrapper: str | None = None
    consumers: frozenset[str] = frozenset()
    callbacks: frozenset[str] = frozenset()
    hand_work: frozenset[str] = frozenset()
    runner_methods: str = ""


_DEFER = "twisted.internet.defer"
_PROTOCOL = "twisted.internet.protocol"
PRESETS: dict[str, Preset] = {
    "legacy": Preset(
        name="legacy",
        decorators=frozenset({"legacy.runtime.coroutine"}),
        returns=frozenset(),
        prefilter=(b"coroutine",),
        awaits_returned=False,
        eager=False,
        value_yield=True,
        lists=True,
        dicts=False,
        runtime="legacy",
        keep_generator_with=None,
        drop_loop_kwarg=False,
    ),
    "tornado": Preset(
        name="tornado",
        decorators=frozenset({"tornado.gen.coroutine"}),
        returns=frozenset({"tornado.gen.Return"}),
        prefilter=(b"coroutine",),
        awaits_returned=False,
        eager=True,
        value_yield=True,
        lists=True,
        dicts=True,
        runtime="asyncio",
        keep_generator_with=None,
        drop_loop_kwarg=False,
    ),
    "asyncio": Preset(
        name="asyncio",
        decorators=frozenset({"asyncio.coroutine", "asyncio.coroutines.coroutine"}),
        returns=frozenset(),
        prefilter=(b"coroutine", b"loop"),
        awaits_returned=True,
        eager=False,
        value_yield=False,
        lists=False,
        dicts=False,
        runtime="asyncio",
        keep_generator_with="types.coroutine",
        drop_loop_kwarg=True,
    ),
    "twisted": Preset(
        name="twisted",
        decorators=frozenset({f"{_DEFER}.inlineCallbacks"}),
        returns=frozenset(),
        prefilter=(b"inlineCallbacks",),
        awaits_returned=False,
        # inlineCallbacks starts at once; ``wrapper`` keeps that at every call.
        eager=False,
        value_yield=True,
        lists=False,
        dicts=False,
        runtime="asyncio",
        keep_generator_with=None,
        drop_loop_kwarg=False,
        return_calls=frozenset({f"{_DEFER}.returnValue"}),
        passthrough=True,
        wrapper=f"{_DEFER}.ensureDeferred",
        consumers=frozenset({"twisted.internet.task.cooperate", "twisted.internet.task.coiterate"}),
        # Called by Twisted without waiting for a returned coroutine (or
        # expecting a Deferred that a coroutine is not): protocols, factories,
        # services' shutdown triggers, web resources, cred realms.
        callbacks=frozenset(
            {
                "makeConnection",
                "connectionMade",
                "dataReceived",
                "lineReceived",
                "rawDataReceived",
                "connectionLost",
                "buildProtocol",
                "startedConnecting",
                "clientConnectionFailed",
                "clientConnectionLost",
                "startFactory",
                "stopFactory",
                "startService",
                "stopService",
                "privilegedStartService",
                "render",
                "render_GET",
                "render_POST",
                "render_PUT",
                "render_DELETE",
                "render_HEAD",
                "getChild",
                "requestAvatar",
                "requestAvatarId",
            }
        ),
        hand_work=frozenset(
            {
                f"{_PROTOCOL}.Protocol",
                f"{_PROTOCOL}.ProcessProtocol",
                f"{_PROTOCOL}.DatagramProtocol",
                f"{_PROTOCOL}.Factory",
                f"{_PROTOCOL}.ClientFactory",
                f"{_PROTOCOL}.ServerFactory",
                f"{_PROTOCOL}.ReconnectingClientFactory",
                "twisted.protocols.basic.LineReceiver",
                "twisted.protocols.basic.LineOnlyReceiver",
                "twisted.protocols.basic.Int32StringReceiver",
                "twisted.protocols.basic.NetstringReceiver",
            }
        ),
        runner_methods=r"test\w*|setUp|tearDown",
    ),
}

# asyncio callables whose ``loop`` parameter Python 3.10 removed (bpo-42392);
# the others that still take ``loop=`` (ensure_future, Future, Task,
# StreamReader, wrap_future, run_coroutine_threadsafe) are left alone.
_LOOP_REMOVED_BY_MODULE: dict[str, tuple[str, ...]] = {
    "tasks": ("sleep", "wait_for", "wait", "gather", "shield", "as_completed"),
    "streams": ("open_connection", "start_server", "open_unix_connection", "start_unix_server"),
    "subprocess": ("create_subprocess_exec", "create_subprocess_shell"),
    "queues": ("Queue", "LifoQueue", "PriorityQueue"),
    "locks": ("Lock", "Event", "Condition", "Semaphore", "BoundedSemaphore"),
}
# Spelled from the package (``asyncio.Queue``) or the submodule (``asyncio.queues.Queue``).
LOOP_REMOVED: frozenset[str] = frozenset(
    spelling
    for module, names in _LOOP_REMOVED_BY_MODULE.items()
    for name in names
    for spelling in (f"asyncio.{name}", f"asyncio.{module}.{name}")
)

# Tornado helpers rewritten when yielded inside a converted coroutine.
TORNADO_SLEEP = "tornado.gen.sleep"
TORNADO_MOMENT = "tornado.gen.moment"
TORNADO_MULTI = frozenset({"tornado.gen.multi", "tornado.gen.multi_future"})


def get_preset(name: str) -> Preset:
    """Return the preset called ``name``.

    Raises ``ValueError`` naming the valid presets when ``name`` is unknown.
    """
    try:
        return PRESETS[name]
    except KeyError:
        valid = ", ".join(sorted(PRESETS))
        raise ValueError(
            f"unknown generators-to-async preset {name!r}; choose one of: {valid}"
        ) from None
