"""The uncertainty-measure interface.

A measure declares the statistics it reads (``requires``) and maps them to one score per
example, **higher = more uncertain**:

    scores[n_examples] = measure(stats)

``stats["generations"]`` is the cell's own generation per example
(:class:`entropy_bench.generation.Generation`, with per-token log-probs and entropies).
The runner computes each requirement once per cell and shares it between measures, so adding
a measure never regenerates text.
"""

from __future__ import annotations

from typing import Any, ClassVar, Mapping

import numpy as np

from entropy_bench.methods.registry import Method


class UncertaintyMeasure(Method):
    requires: ClassVar[frozenset[str]] = frozenset({"generations"})

    def __call__(self, stats: Mapping[str, Any]) -> np.ndarray:
        return np.array([self.score(g) for g in stats["generations"]], dtype=float)

    def score(self, generation) -> float:
        """Score of one generation, for measures that read a single generation."""
        raise TypeError(f"{type(self).__name__} must implement score or __call__")
