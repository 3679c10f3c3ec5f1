"""Deliberately broken variants of the asyncio backend, one per post-mortem bug class.

A pytest plugin for the teeth test (tests/test_conformance_teeth.py): loaded
with ``-p broken_variants`` it applies the variant named by the environment
variable ``SHIMS_BROKEN_VARIANT`` before any test runs. Each variant
reintroduces one bug from the post-mortem (or one of the TLS bugs raw
asyncio and uvloop have: cpython#82918, uvloop#385, aiohttp#11091), only on
connections of the asyncio/uvloop backends, so the conformance suite must
catch it.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from typing import Any

import pytest

import shims
from shims._connection import Connection
from shims._pool import ConnectionPool
from shims._state import ConnectionState
from shims._tls import TLSLayer


def _on_asyncio(conn: Connection) -> bool:
    return conn.backend != "legacy"


def closed_from_is_closing() -> None:
    """closed() looks at the writer's closing flag only (stays False in CLOSE_WAIT)."""
    original = Connection.closed

    def closed(self: Connection) -> bool:
        if not _on_asyncio(self):
            return original(self)
        return bool(self._t.is_closing())  # type: ignore[attr-defined]

    Connection.closed = closed  # type: ignore[method-assign]


def connected_flag_set_on_dial() -> None:
    """is_connected() is a flag set only when we dialled."""
    original = Connection.is_connected

    def is_connected(self: Connection) -> bool:
        if not _on_asyncio(self):
            return original(self)
        return self.initiated_by == "local" and self._state is ConnectionState.OPEN

    Connection.is_connected = is_connected  # type: ignore[method-assign]


def unread_check_on_duplex() -> None:
    """The pool's unread-data check ignores duplex (drops websocket-like connections)."""

    def as_request_response(method: Callable[..., Any]) -> Callable[..., Any]:
        def wrapper(self: ConnectionPool, slot: Any, *args: Any, **kwargs: Any) -> Any:
            conn = slot.conn
            if not _on_asyncio(conn):
                return method(self, slot, *args, **kwargs)
            duplex, conn.duplex = conn.duplex, False
            try:
                return method(self, slot, *args, **kwargs)
            finally:
                conn.duplex = duplex

        return wrapper

    ConnectionPool._unfit = as_request_response(ConnectionPool._unfit)  # type: ignore[method-assign]
    ConnectionPool._release = as_request_response(ConnectionPool._release)  # type: ignore[method-assign]


def pool_hands_out_closed() -> None:
    """Checkout only looks at age, never at whether the connection is still alive."""
    original = ConnectionPool._unfit

    def unfit(self: ConnectionPool, slot: Any, now: float) -> str | None:
        if not _on_asyncio(slot.conn):
            return original(self, slot, now)
        if self._max_lifetime is not None and now - slot.created >= self._max_lifetime:
            return "discarded_expired"
        return None

    ConnectionPool._unfit = unfit  # type: ignore[method-assign]


def reconnect_leaks_slot() -> None:
    """A failed connect keeps its pool slot: the pool shrinks with every error."""
    original = ConnectionPool._open

    async def open_(self: ConnectionPool, deadline: float | None) -> Any:
        try:
            return await original(self, deadline)
        except Exception:
            if shims.current_backend() != "legacy":
                self._size += 1  # the slot the failed connect took is never given back
            raise

    ConnectionPool._open = open_  # type: ignore[method-assign]


def on_close_local_only() -> None:
    """on_close callbacks run when we close, not when the peer closes or resets."""
    original = Connection._fire

    def fire(self: Connection, event: Any) -> None:
        if not _on_asyncio(self):
            return original(self, event)
        callbacks, self._callbacks = self._callbacks, []
        original(self, event)
        if event == "close":
            for cb in callbacks:
                self._run_callback(cb)
        elif self._state is not ConnectionState.CLOSED:
            self._callbacks = callbacks
        return None

    Connection._fire = fire  # type: ignore[method-assign]


def write_without_deadline() -> None:
    """A write waits for the peer to read with no deadline, like asyncio's drain()."""
    original = Connection._drain

    async def drain(self: Connection, timeout: float | None) -> None:
        await original(self, None if _on_asyncio(self) else timeout)

    Connection._drain = drain  # type: ignore[method-assign]


def reset_reported_as_fin() -> None:
    """An RST is mapped like an orderly close (close_reason 'peer', no reset error)."""
    module = sys.modules[Connection._on_lost.__module__]  # wherever the mapping lives now
    original = module._lost_event

    def lost_event(exc: BaseException | None) -> Any:
        return "lost" if shims.current_backend() != "legacy" else original(exc)

    module._lost_event = lost_event


def tls_truncation_as_clean_close() -> None:
    """A TLS peer's FIN without close_notify is taken for an orderly close (ragged EOF ignored)."""
    original = Connection._on_truncated

    def on_truncated(self: Connection) -> None:
        if not _on_asyncio(self):
            return original(self)
        self._plain_eof()
        return None

    Connection._on_truncated = on_truncated  # type: ignore[method-assign]


def tls_close_waits_for_close_notify() -> None:
    """close() sends close_notify, then keeps the socket until the peer's close_notify (no bound)."""
    original_close = TLSLayer.close
    original_notify = TLSLayer._on_close_notify
    waiting: set[int] = set()

    def close(self: TLSLayer) -> None:
        if not _on_asyncio(self._conn):  # type: ignore[arg-type]
            return original_close(self)
        self._send_close_notify()
        waiting.add(id(self))  # the socket closes once the peer answers: maybe never
        return None

    def on_close_notify(self: TLSLayer) -> None:
        if id(self) in waiting:
            waiting.discard(id(self))
            self._raw.close()
        original_notify(self)

    TLSLayer.close = close  # type: ignore[method-assign]
    TLSLayer._on_close_notify = on_close_notify  # type: ignore[method-assign]


def probe_drops_on_tls_records() -> None:
    """The liveness probe takes any readable TLS socket for unread data (session tickets too)."""
    original = Connection._probe

    def probe(self: Connection) -> bool:
        if not _on_asyncio(self) or self._tls is None:
            return original(self)
        tls, self._tls = self._tls, None  # judged like plain TCP: readable means dirty
        try:
            return original(self)
        finally:
            self._tls = tls

    Connection._probe = probe  # type: ignore[method-assign]


VARIANTS: dict[str, Callable[[], None]] = {
    f.__name__: f
    for f in (
        closed_from_is_closing,
        connected_flag_set_on_dial,
        unread_check_on_duplex,
        pool_hands_out_closed,
        reconnect_leaks_slot,
        on_close_local_only,
        write_without_deadline,
        reset_reported_as_fin,
        tls_truncation_as_clean_close,
        tls_close_waits_for_close_notify,
        probe_drops_on_tls_records,
    )
}


def pytest_configure(config: pytest.Config) -> None:
    name = os.environ.get("SHIMS_BROKEN_VARIANT", "")
    if name not in VARIANTS:
        raise pytest.UsageError(
            f"SHIMS_BROKEN_VARIANT={name!r} is not a broken variant; choose from "
            + ", ".join(VARIANTS)
        )
    VARIANTS[name]()
