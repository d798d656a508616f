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

**Parameterised statistics.** A requirement is a name (an input, or a calculator built with its
defaults, when it has no parameters) or a calculator instance with parameters, e.g. ``Similarity(kind="jaccard")``: the
statistic is then known by the calculator's id (``similarity(kind=jaccard)``), and two measures
that require equal instances share one computation. A scorer reads ``stats[requirement]``
(:func:`select`), with the same object it put in its ``requires``.
"""

from __future__ import annotations

from collections import Counter
from typing import Any, ClassVar, Iterable, Mapping, Union

from entropy_bench.cache import Cache, content_key
from entropy_bench.methods.registry import Method, Registry, UnknownMethodError

STATISTICS = Registry("statistic", "entropy_bench.calculators")


class StatGraphError(ValueError):
    """The statistics a sweep needs cannot be ordered (a cycle)."""


class StatCalculator(Method):
    """Provides the statistic named like its registry entry from the statistics in ``requires``."""

    requires: ClassVar[frozenset[str]] = frozenset()
    version: ClassVar[str] = "1"

    def compute(self, inputs: Mapping[Any, Any]) -> Any:
        raise NotImplementedError(f"{type(self).__name__} must implement compute")


Requirement = Union[str, "StatCalculator"]


def stat_key(requirement: Requirement) -> str:
    """The name a statistic is known by: an input's name, else its calculator's id (the name
    alone for a calculator with its defaults)."""
    return requirement if isinstance(requirement, str) else requirement.id


def select(values: Mapping[str, Any], requires: Iterable[Requirement]) -> dict[Requirement, Any]:
    """``{requirement: value}`` for a scorer's or calculator's ``requires``, from :func:`compute`'s values."""
    return {r: values[stat_key(r)] for r in requires}


def plan(required: Iterable[Requirement], inputs: Iterable[str], registry: Registry = STATISTICS) -> list[StatCalculator]:
    """The calculators that provide ``required`` from ``inputs``, each after what it reads."""
    inputs = frozenset(inputs)
    order: list[StatCalculator] = []
    placed: set[str] = set(inputs)

    def visit(requirement: Requirement, path: tuple[str, ...]) -> None:
        key = stat_key(requirement)
        if key in placed:
            return
        if key in path:
            raise StatGraphError(f"statistics depend on each other in a cycle: {' -> '.join(path + (key,))}")
        if isinstance(requirement, str) and requirement not in registry:
            raise UnknownMethodError("statistic", requirement, sorted(inputs | set(registry.names())))
        calculator = registry.build(requirement) if isinstance(requirement, str) else requirement
        if stat_key(calculator) != key:  # a name stands for a calculator without parameters only
            raise TypeError(f"statistic {key!r} has parameters: require an instance, e.g. {calculator!r}")
        for dependency in sorted(calculator.requires, key=stat_key):
            visit(dependency, path + (key,))
        placed.add(key)
        order.append(calculator)

    for requirement in sorted(set(required), key=stat_key):
        visit(requirement, ())
    return order


def compute(
    calculators: list[StatCalculator], inputs: Mapping[str, Any], input_keys: Mapping[str, str], cache: Cache,
    counts: Counter | None = None,
) -> dict[str, Any]:
    """``inputs`` plus every calculator's statistic (from the cache where it is there already);
    ``counts`` (if given) gains how many were ``cached`` and how many ``computed``.

    ``input_keys`` identifies each input's content (the generation track: the generations'
    cache keys; the examples' task, split and ids); a statistic's key chains the keys of what
    it was computed from, so a changed input or calculator version is a new entry.
    """
    values = dict(inputs)
    keys = {name: content_key(input=name, content=input_keys[name]) for name in inputs}
    for calculator in calculators:
        key = stat_key(calculator)
        keys[key] = content_key(
            statistic=calculator.id,
            version=calculator.version,
            inputs={stat_key(r): keys[stat_key(r)] for r in sorted(calculator.requires, key=stat_key)},
        )
        kind = f"stat/{calculator.name}"
        value = cache.get(kind, keys[key])
        found = value is not None
        if not found:
            value = calculator.compute(select(values, calculator.requires))
            cache.put(kind, keys[key], value)
        if counts is not None:
            counts["cached" if found else "computed"] += 1
        values[key] = value
    return values
