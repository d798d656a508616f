"""The shared-statistics graph: calculators that provide named statistics, computed once per cell.

A scorer (an uncertainty measure, say) declares the statistics it reads in ``requires``. A
**calculator** provides one statistic from others::

    @STATISTICS.register("sequence_nll", paper="")
    @dataclasses.dataclass(frozen=True)
    class SequenceNLL(StatCalculator):
        requires: ClassVar[frozenset[str]] = frozenset({"generations"})

        def compute(self, inputs):
            return [-sum(g.logprob) for g in inputs["generations"]]

A track hands the graph its cell's own data as **inputs** (the generation track:
``generations``, ``examples``); everything else is provided by a calculator. For a cell,
:func:`plan` orders the calculators that the scorers need, depth first, so that each runs
after the statistics it reads (an unknown statistic is an :class:`UnknownMethodError` with a
"did you mean"; a cycle is a :class:`StatGraphError`; both surface when the sweep is
expanded, before anything runs). :func:`compute` then runs each calculator once and caches
its value in the content-addressed cache under kind ``stat/<name>``, keyed by the
calculator's id and version and the keys of its inputs — so the value is found again by any
later run over the same data, whatever measures that run scores.

Values must survive ``torch.save`` / ``torch.load(weights_only=True)``: lists, dicts,
numbers, strings, tensors, or records with ``to_dict`` (stored as their dict).

Calculators live one per module in ``bench/calculators/``; adding a file adds a statistic.
"""

from __future__ import annotations

from typing import Any, ClassVar, Iterable, Mapping

from entropy_bench.cache import Cache, content_key
from entropy_bench.methods.registry import Method, Registry, UnknownMethodError

STATISTICS = Registry("statistic", "entropy_bench.calculators")


class StatGraphError(ValueError):
    """The statistics a sweep needs cannot be ordered (a cycle)."""


class StatCalculator(Method):
    """Provides the statistic named like its registry entry from the statistics in ``requires``."""

    requires: ClassVar[frozenset[str]] = frozenset()
    version: ClassVar[str] = "1"

    def compute(self, inputs: Mapping[str, Any]) -> Any:
        raise NotImplementedError(f"{type(self).__name__} must implement compute")


def plan(required: Iterable[str], inputs: Iterable[str], registry: Registry = STATISTICS) -> list[StatCalculator]:
    """The calculators that provide ``required`` from ``inputs``, each after what it reads."""
    inputs = frozenset(inputs)
    order: list[StatCalculator] = []
    placed: set[str] = set(inputs)

    def visit(name: str, path: tuple[str, ...]) -> None:
        if name in placed:
            return
        if name in path:
            raise StatGraphError(f"statistics depend on each other in a cycle: {' -> '.join(path + (name,))}")
        if name not in registry:
            raise UnknownMethodError("statistic", name, sorted(inputs | set(registry.names())))
        calculator = registry.build(name)
        for dependency in sorted(calculator.requires):
            visit(dependency, path + (name,))
        placed.add(name)
        order.append(calculator)

    for name in sorted(set(required)):
        visit(name, ())
    return order


def compute(
    calculators: list[StatCalculator], inputs: Mapping[str, Any], input_keys: Mapping[str, str], cache: Cache
) -> dict[str, Any]:
    """``inputs`` plus every calculator's statistic (from the cache where it is there already).

    ``input_keys`` identifies each input's content (the generation track: the generations'
    cache keys; the examples' task, split and ids); a statistic's key chains the keys of what
    it was computed from, so a changed input or calculator version is a new entry.
    """
    values = dict(inputs)
    keys = {name: content_key(input=name, content=input_keys[name]) for name in inputs}
    for calculator in calculators:
        keys[calculator.name] = content_key(
            statistic=calculator.id,
            version=calculator.version,
            inputs={name: keys[name] for name in sorted(calculator.requires)},
        )
        kind = f"stat/{calculator.name}"
        value = cache.get(kind, keys[calculator.name])
        if value is None:
            value = calculator.compute({name: values[name] for name in calculator.requires})
            cache.put(kind, keys[calculator.name], value)
        values[calculator.name] = value
    return values
