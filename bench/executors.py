"""Executors: run cells and hand back their results, in any order; the driver alone logs them.

An executor maps a function over work items that it pulls from an iterator **as it has room
for them**: the driver's iterator claims a cell only when the executor asks for the next one,
so two ``bench run`` processes on one store share the cells instead of claiming them all up
front. Results come back as ``(item, result)`` pairs, in whatever order the cells finish.

- :class:`LocalExecutor` — in this process, one cell at a time (the default). An exception
  raised by the function propagates from the iteration (the driver marks the cells it had
  handed out FAILED and stops).
- :class:`RayExecutor` — on a Ray cluster (``pip install -e ".[ray]"``): ``workers`` Ray actors,
  each holding one copy of the function (and so its models, loaded once per actor) and
  declaring ``num_cpus`` / ``num_gpus`` / ``memory``. It keeps one item in flight per actor and
  pulls the next only when an actor is free; an item whose function raises is retried up to
  ``max_retries`` times, and if it still fails it comes back as a :class:`CellFailure` (the
  driver reports it and the other cells go on). The function must pickle: the runner's
  :class:`~entropy_bench.runner.CellEvaluator` sends its track and the cache's path, and each
  actor builds its own context; the cache is shared through that path, so every node must see
  it (one machine, or a shared filesystem). The cache's atomic writes make two workers writing
  the same entry safe: both write the same content, and the last rename wins.
"""

from __future__ import annotations

import dataclasses
import traceback
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator, Protocol, TypeVar

T = TypeVar("T")
R = TypeVar("R")


class Executor(Protocol):
    def map(self, fn: Callable[[T], R], items: Iterable[T]) -> Iterator[tuple[T, Any]]: ...


@dataclasses.dataclass(frozen=True)
class CellFailure:
    """An item that raised on every attempt: the last error and its traceback."""

    error: str
    traceback: str
    attempts: int


class LocalExecutor:
    """Runs each item in this process as soon as it is pulled."""

    def map(self, fn: Callable[[T], R], items: Iterable[T]) -> Iterator[tuple[T, R]]:
        for item in items:
            yield item, fn(item)


def _attempt(fn: Callable[[T], R], item: T) -> R | CellFailure:
    """``fn(item)``, or its exception as a :class:`CellFailure` (so that the actor survives it)."""
    try:
        return fn(item)
    except Exception as err:  # noqa: BLE001 - any error of a cell is reported, never lost
        return CellFailure(f"{type(err).__name__}: {err}", traceback.format_exc(), 1)


@dataclasses.dataclass
class RayExecutor:
    """Cells as tasks of Ray actors (module docstring). ``address``: ``None`` starts or joins a
    local Ray instance (``ray.init()``), ``"auto"`` joins the running cluster, ``"ray://host:port"``
    a remote one."""

    address: str | None = None
    workers: int = 2
    num_cpus: float = 1.0
    num_gpus: float = 0.0
    memory: int | None = None  # bytes per actor
    max_retries: int = 2

    def map(self, fn: Callable[[T], R], items: Iterable[T]) -> Iterator[tuple[T, R | CellFailure]]:
        ray = _ray(self.address)
        options = {"num_cpus": self.num_cpus, "num_gpus": self.num_gpus}
        if self.memory is not None:
            options["memory"] = self.memory
        worker = ray.remote(_Worker).options(**options)
        actors = [worker.remote(fn) for _ in range(self.workers)]
        try:
            yield from self._drive(ray, actors, iter(items))
        finally:
            for actor in actors:
                ray.kill(actor)

    def _drive(self, ray, actors: list, items: Iterator[T]) -> Iterator[tuple[T, R | CellFailure]]:
        free, running = list(actors), {}  # running: object ref → (actor, item, attempt)
        exhausted = False
        while running or not exhausted:
            while free and not exhausted:
                item = next(items, _END)
                if item is _END:
                    exhausted = True
                    break
                actor = free.pop()
                running[actor.run.remote(item)] = (actor, item, 1)
            if not running:
                continue
            (ref,), _ = ray.wait(list(running), num_returns=1)
            actor, item, attempt = running.pop(ref)
            result = ray.get(ref)
            if isinstance(result, CellFailure) and attempt <= self.max_retries:
                running[actor.run.remote(item)] = (actor, item, attempt + 1)
                continue
            free.append(actor)
            yield item, dataclasses.replace(result, attempts=attempt) if isinstance(result, CellFailure) else result


class _Worker:
    """A Ray actor: one copy of the function, called on each item sent to it."""

    def __init__(self, fn: Callable[[Any], Any]):
        _unshadow()
        self.fn = fn

    def run(self, item: Any) -> Any:
        return _attempt(self.fn, item)


_END = object()


def _unshadow() -> None:
    """Drop this repository's root from ``sys.path``. Ray puts the driver's working directory on
    its workers' path; run from a source checkout, that root would make its ``kernels/`` and
    ``tasks/`` folders (``entropy_bench.kernels`` and ``.tasks`` by ``package-dir``) shadow the
    PyPI modules of those names (transformers imports ``kernels``)."""
    import sys

    import entropy_bench.kernels

    root = Path(entropy_bench.kernels.__file__).resolve().parent.parent
    sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != root]


def _ray(address: str | None):
    try:
        import ray
    except ImportError:
        raise RuntimeError('the Ray executor needs Ray: pip install -e ".[ray]"') from None
    if not ray.is_initialized():
        ray.init(address=address, include_dashboard=False, log_to_driver=False)
    return ray
