"""Executors: run cells and hand back their results, in any order; the driver alone logs them.

An executor maps a function over work items that it pulls from an iterator **as it has room
for them**: the driver's iterator claims a cell only when the executor asks for the next one,
so two ``bench run`` processes on one store share the cells instead of claiming them all up
front. Results come back as ``(item, result)`` pairs, in whatever order the cells finish; an
exception raised by the function propagates from the iteration (the driver marks the cells it
had handed out FAILED).

- :class:`LocalExecutor` — in this process, one cell at a time (the default).
"""

from __future__ import annotations

from typing import Callable, Iterable, Iterator, Protocol, TypeVar

T = TypeVar("T")
R = TypeVar("R")


class Executor(Protocol):
    def map(self, fn: Callable[[T], R], items: Iterable[T]) -> Iterator[tuple[T, R]]: ...


class LocalExecutor:
    """Runs each item in this process as soon as it is pulled."""

    def map(self, fn: Callable[[T], R], items: Iterable[T]) -> Iterator[tuple[T, R]]:
        for item in items:
            yield item, fn(item)
