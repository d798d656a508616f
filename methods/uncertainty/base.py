"""The uncertainty-measure interface.

A measure declares the statistics it reads (``requires``) and maps them to one score per
example, **higher = more uncertain**:

    scores[n_examples] = measure(stats)

``stats`` holds exactly the statistics of ``requires``. The generation track provides
``generations`` (the cell's :class:`~entropy_bench.methods.records.Generation` per example)
and ``examples``; any other name is provided by a calculator of the shared-statistics graph
(``bench/stats.py``), computed once per cell, shared by every measure that reads it, and
cached — so adding a measure never regenerates text or recomputes a shared statistic.
"""

from __future__ import annotations

from typing import Any, ClassVar, Mapping

import numpy as np

from entropy_bench.methods.records import Generation
from entropy_bench.methods.registry import Method


class UncertaintyMeasure(Method):
    requires: ClassVar[frozenset[str]] = frozenset({"generations"})

    def __call__(self, stats: Mapping[str, Any]) -> np.ndarray:
        return np.array([self.score(g) for g in stats["generations"]], dtype=float)

    def score(self, generation: Generation) -> float:
        """Score of one generation, for measures that read a single generation."""
        raise TypeError(f"{type(self).__name__} must implement score or __call__")
