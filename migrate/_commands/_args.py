"""Argument types shared by the subcommands (argparse ``type=`` and ``choices=`` values)."""

from __future__ import annotations

import argparse
from collections.abc import Callable, Collection, Iterable, Iterator
from functools import cached_property

__all__ = ["LazyChoices", "positive_int"]


def positive_int(text: str) -> int:
    """Parse a ``--jobs`` value (argparse type)."""
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}")
    return value


class LazyChoices(Collection[str]):
    """Choices read from their source on first use, not when the parser is built.

    Every ``migrate`` invocation builds every subparser, and the source of
    some choices (the codemods' preset registry) imports libcst; this keeps
    ``migrate --help`` and the commands that need no codemod fast. Give the
    argument an explicit ``metavar``: without one, argparse lists the choices
    while the argument is added.
    """

    def __init__(self, load: Callable[[], Iterable[str]]) -> None:
        self._load = load

    @cached_property
    def _values(self) -> tuple[str, ...]:
        return tuple(self._load())

    def __contains__(self, value: object) -> bool:
        return value in self._values

    def __iter__(self) -> Iterator[str]:
        return iter(self._values)

    def __len__(self) -> int:
        return len(self._values)
