"""The track interface: one kind of work (generation, estimation, …) as the runner sees it.

A track owns everything specific to its kind of work:

- ``spec``: its sweep section, a pydantic model (``track: <name>`` in the YAML picks it);
- :meth:`Track.expand`: the spec → cells, every method built and every statistic planned, so
  that all bad input fails before anything runs; :meth:`Track.validate`: checks of the whole
  plan that look outside the spec (the models can be found, ``max_new_tokens`` fits them);
- :meth:`Track.evaluate`: one cell → :class:`CellResult` (metrics, per-example rows, tags),
  producing the cell's data through the cache;
- :meth:`Track.summarise` / :meth:`Track.figures`: the comparison table from the per-example
  rows of every finished cell, and the sweep's plots.

A :class:`Cell` is the unit that produces data. Its ``params`` (all strings) are everything
that changes that data and are hashed into ``key``; its ``scorers`` (uncertainty measures,
estimators) score the data but are **not** in the key, so adding a scorer to a finished sweep
scores the existing cells again from the cache instead of making new ones.

The runner (``bench/runner.py``) knows tracks only through this interface.
"""

from __future__ import annotations

import abc
import dataclasses
import hashlib
import json
from typing import Any, ClassVar

import pandas as pd
from pydantic import BaseModel

from entropy_bench.cache import Cache


class Cell(abc.ABC):
    """One unit of work: ``params`` identify its data, ``scorers`` score it. Tracks subclass it
    as a frozen dataclass with their own fields (model, task, decoder, seed, …)."""

    track: ClassVar[str]

    @property
    @abc.abstractmethod
    def params(self) -> dict[str, str]:
        """Everything that changes the cell's data (the MLflow params of its child run)."""

    @property
    @abc.abstractmethod
    def label(self) -> str: ...

    @property
    @abc.abstractmethod
    def scorers(self) -> tuple[Any, ...]: ...

    @property
    def key(self) -> str:
        return hashlib.sha256(json.dumps(self.params, sort_keys=True).encode()).hexdigest()[:20]

    @property
    def scorer_ids(self) -> tuple[str, ...]:
        return tuple(s.id for s in self.scorers)


@dataclasses.dataclass
class CellResult:
    metrics: dict[str, float]
    per_example: list[dict]
    tags: dict[str, str] = dataclasses.field(default_factory=dict)
    params: dict[str, str] = dataclasses.field(default_factory=dict)  # run params beyond the cell's own
    produced: int = 0  # data items computed now (cache misses), e.g. generations
    work: dict[str, float] = dataclasses.field(default_factory=dict)  # what this evaluation did (cost/* counters)
    figures: dict[str, Any] = dataclasses.field(default_factory=dict)  # artifact name → matplotlib figure


@dataclasses.dataclass
class Context:
    """What evaluating a cell may use besides the cell: the cache and the track's resources
    (the generation track's model pool). Built on the driver, or on a worker by an executor."""

    cache: Cache
    resources: dict[str, Any] = dataclasses.field(default_factory=dict)
    progress: bool = True  # whether long work inside a cell (training) shows a progress bar


class Track(abc.ABC):
    name: ClassVar[str]
    spec: ClassVar[type[BaseModel]]
    row_keys: ClassVar[tuple[str, ...]]  # run params that name a table row
    has_figures: ClassVar[bool] = False  # whether :meth:`figures` draws anything

    def resources(self) -> dict[str, Any]:
        """Fresh resources for a :class:`Context` (the generation track's model pool)."""
        return {}

    def skip_reason(self, cell: Cell, context: Context) -> str | None:
        """Why ``cell`` cannot run here (its data is unavailable and optional), or ``None``."""
        return None

    @abc.abstractmethod
    def expand(self, spec: BaseModel) -> list[Cell]: ...

    def validate(self, plan: Any) -> None:
        """Checks of a whole plan (a :class:`~entropy_bench.sweep.Plan`) that need more than
        building methods, e.g. that every model can be found, without loading it; raises a
        :class:`~entropy_bench.tracks.spec.SpecError` naming the field. Called by
        ``sweep.plan`` after :meth:`expand`, before anything is written."""

    @abc.abstractmethod
    def evaluate(self, cell: Cell, context: Context) -> CellResult: ...

    @abc.abstractmethod
    def summarise(self, examples: pd.DataFrame, **options: Any) -> pd.DataFrame: ...

    def figures(self, summary: pd.DataFrame) -> dict[str, Any]:
        """Matplotlib figures of the sweep, by artifact name (none by default)."""
        return {}

    def forward_calls(self, context: Context) -> int:
        """Model calls made through ``context`` (0 for tracks without models)."""
        return 0
