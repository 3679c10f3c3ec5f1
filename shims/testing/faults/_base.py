"""The fault protocol: the hooks the proxy thread calls, and the one registry of fault classes."""

# A switchable ``Fault`` applies to every live and future connection until
# it is switched off, replaced by another of its class, or ``clear()``-ed; an
# ``Action`` runs once, on the connections live at that moment (it may attach
# a ``Fault`` to each of them, see ``Pair.local``).  Hooks run on the proxy
# thread only, so a fault may touch the Pair and Direction it is handed
# without locks.  The registry fixes the order in which the proxy consults
# faults: pacing faults compose in that order (slice, then bandwidth), and
# when two faults would close a connection at once the first registered
# names the close reason.

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Protocol, TypeVar

if TYPE_CHECKING:
    from .._proxy_pair import Direction, Pair

__all__ = ["Action", "ActiveFaults", "Fault", "Proxyside", "non_negative", "register", "registered"]


class Fault:
    """A switchable fault; override the hooks it needs (each default does nothing)."""

    def enabled(self) -> bool:
        """False when installing this object means "switch this fault off" (e.g. latency 0)."""
        return True

    def install(self, proxy: Proxyside, now: float) -> None:
        """Put this fault in place (or remove its class when not ``enabled()``)."""
        proxy.faults.put(self)

    # -- hooks, all called on the proxy thread ---------------------------------

    def frozen(self, pair: Pair) -> bool:
        """True: the pair moves nothing either way and is not dialled upstream (blackhole)."""
        return False

    def may_read(self, pair: Pair, d: Direction) -> bool:
        """False: the proxy stops reading ``d``'s source (its sender meets backpressure)."""
        return True

    def on_data(self, pair: Pair, d: Direction, release: float, data: bytes) -> tuple[float, bytes]:
        """Bytes just read for ``d``: return when they may leave, and what leaves.

        ``d.received`` counts the bytes read before ``data``; returning empty
        bytes drops the chunk.
        """
        return release, data

    def send_limit(self, pair: Pair, d: Direction, size: int) -> int:
        """At most how many of the next ``size`` bytes may be written now.

        Return 0 only after closing the pair or arranging a wake-up
        (``pair.wake(when)``), or the bytes would wait for the next event.
        """
        return size

    def on_sent(self, pair: Pair, d: Direction, sent: int, now: float) -> None:
        """``sent`` bytes were written for ``d`` (pace with ``d.next_send``, or close)."""

    def on_tick(self, pair: Pair, now: float) -> None:
        """Every time the proxy looks at the pair, before it moves bytes (deadlines)."""

    def on_idle(self, pair: Pair, now: float) -> None:
        """After the proxy moved what it could, when nothing is queued either way."""

    def __repr__(self) -> str:
        fields = ", ".join(f"{k}={v!r}" for k, v in vars(self).items() if not k.startswith("_"))
        return f"{type(self).__name__}({fields})"


class Action(Fault):
    """A one-shot fault: ``install`` acts on the connections live right now."""

    def install(self, proxy: Proxyside, now: float) -> None:
        raise NotImplementedError


class ActiveFaults:
    """The switchable faults in place, one per class, in registry order."""

    def __init__(self) -> None:
        self._by_class: dict[type[Fault], Fault] = {}
        self.items: tuple[Fault, ...] = ()

    def put(self, fault: Fault) -> None:
        self._by_class.pop(type(fault), None)
        if fault.enabled():
            self._by_class[type(fault)] = fault
        self._sort()

    def clear(self) -> None:
        self._by_class.clear()
        self._sort()

    def _sort(self) -> None:
        self.items = tuple(sorted(self._by_class.values(), key=lambda f: _ORDER[type(f)]))

    def __iter__(self) -> Iterator[Fault]:
        return iter(self.items)

    def __repr__(self) -> str:
        return f"faults={list(self.items)!r}"


class Proxyside(Protocol):
    """What a fault's ``install`` may touch: the proxy thread's state (the Loop)."""

    faults: ActiveFaults

    @property
    def live(self) -> list[Pair]: ...


_ORDER: dict[type[Fault], int] = {}
F = TypeVar("F", bound=type[Fault])


def register(cls: F) -> F:
    """Make ``cls`` installable (``FaultProxy.install``); it is consulted after those before it.

    Registering a class twice keeps its first place. Usable as a decorator.
    """
    if not (isinstance(cls, type) and issubclass(cls, Fault)):
        raise TypeError(f"only Fault subclasses can be registered, not {cls!r}")
    _ORDER.setdefault(cls, len(_ORDER))
    return cls


def registered() -> list[type[Fault]]:
    """Every registered fault class, in the order the proxy consults them."""
    return sorted(_ORDER, key=_ORDER.__getitem__)


def is_registered(cls: type[Fault]) -> bool:
    return cls in _ORDER


def non_negative(name: str, value: float) -> float:
    """``value`` as a float; ValueError naming ``name`` when it is negative."""
    if value < 0:
        raise ValueError(f"{name} must be >= 0, not {value!r}")
    return float(value)
