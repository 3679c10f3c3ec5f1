"""The connection state machine: every rule that changes a connection's state lives here.

Theory of operation (h11 style): a connection is in one of four states and
changes state only through ``transition(state, event)``, which looks the pair
up in ``TRANSITIONS``. A pair that is not in the table is illegal: it raises
``IllegalTransition`` naming the event and the state, and the caller's state is
left unchanged. The ``Connection`` never assigns a state any other way.

Events are facts (what the peer did, what the backend saw) or local actions:

- ``peer_fin``: the peer's FIN (orderly end of its sending side).
- ``shutdown_write``: we sent our FIN (``Connection.shutdown_write()``).
- ``close``: we closed the connection (``Connection.close()``).
- ``reset``: the peer reset the connection (RST, EPIPE, ECONNRESET).
- ``error``: any other transport failure (timeouts of the kernel's keepalive,
  unreachable host while connected...).
- ``lost``: the transport went away without an error we caused or saw.
- ``truncated``: a TLS peer's TCP FIN came without its ``close_notify``
  (its stream may be cut short); like ``peer_fin`` for the state, with its
  own ``close_reason``.

``closed()`` is True in every state but ``OPEN``: a connection that is
``PEER_CLOSED`` or ``WRITE_SHUT`` can no longer carry a new request. That is
the post-mortem's first bug made impossible: the state is fed from the
backend's EOF callback, never from ``is_closing()``. ``WRITE_SHUT`` plus the
peer's FIN is ``CLOSED`` (both directions finished), and so is ``PEER_CLOSED``
plus our FIN.

``CLOSE_REASON`` says what ``close_reason`` becomes when an event takes a
connection out of ``OPEN``; the first reason sticks (a later RST does not
rewrite a ``"peer"`` close).
"""

from __future__ import annotations

import enum
from typing import Final, Literal

__all__ = [
    "CLOSE_REASON",
    "EVENTS",
    "TRANSITIONS",
    "ConnectionState",
    "Event",
    "IllegalTransition",
    "transition",
]

Event = Literal["peer_fin", "shutdown_write", "close", "reset", "error", "lost", "truncated"]
EVENTS: Final[tuple[Event, ...]] = (
    "peer_fin",
    "shutdown_write",
    "close",
    "reset",
    "error",
    "lost",
    "truncated",
)


class ConnectionState(enum.Enum):
    """Where a connection is in its life; ``closed()`` is True in every state but ``OPEN``."""

    OPEN = "OPEN"
    PEER_CLOSED = "PEER_CLOSED"
    WRITE_SHUT = "WRITE_SHUT"
    CLOSED = "CLOSED"

    def __repr__(self) -> str:
        return f"ConnectionState.{self.name}"


_O = ConnectionState.OPEN
_P = ConnectionState.PEER_CLOSED
_W = ConnectionState.WRITE_SHUT
_C = ConnectionState.CLOSED

TRANSITIONS: Final[dict[tuple[ConnectionState, Event], ConnectionState]] = {
    # Usable connection.
    (_O, "peer_fin"): _P,
    (_O, "shutdown_write"): _W,
    (_O, "close"): _C,
    (_O, "reset"): _C,
    (_O, "error"): _C,
    (_O, "lost"): _C,
    (_O, "truncated"): _P,
    # The peer sent FIN: we may still write (it may only have half-closed).
    (_P, "shutdown_write"): _C,
    (_P, "close"): _C,
    (_P, "reset"): _C,
    (_P, "error"): _C,
    (_P, "lost"): _C,
    # We sent FIN: we may still read the response.
    (_W, "peer_fin"): _C,
    (_W, "truncated"): _C,
    (_W, "close"): _C,
    (_W, "reset"): _C,
    (_W, "error"): _C,
    (_W, "lost"): _C,
    # CLOSED is final: nothing leaves it.
}

CLOSE_REASON: Final[dict[Event, str]] = {
    "peer_fin": "peer",
    "shutdown_write": "local",
    "close": "local",
    "reset": "reset",
    "error": "error",
    "lost": "peer",
    "truncated": "truncated",
}


class IllegalTransition(RuntimeError):
    """An event arrived in a state that has no transition for it (an internal bug).

    ``event`` and ``state`` name the offending pair; the state was not changed.
    """

    def __init__(self, event: str, state: ConnectionState) -> None:
        legal = sorted(e for (s, e) in TRANSITIONS if s is state)
        super().__init__(
            f"illegal connection transition: event {event!r} in state {state.name}; "
            f"legal events there: {legal!r}"
        )
        self.event = event
        self.state = state


def transition(state: ConnectionState, event: Event) -> ConnectionState:
    """Return the state that ``event`` leads to from ``state``.

    Raises ``IllegalTransition`` if the table has no such transition.
    """
    try:
        return TRANSITIONS[(state, event)]
    except KeyError:
        raise IllegalTransition(event, state) from None
