"""Number of semantic sets: how many distinct meanings the samples take."""

from __future__ import annotations

import dataclasses
from typing import Any, Mapping, Sequence

import numpy as np

from entropy_bench.methods.registry import UNCERTAINTY
from entropy_bench.methods.uncertainty.graph import score_examples
from entropy_bench.methods.uncertainty.semantic_entropy import ClassMeasure


def num_semantic_sets_score(labels: Sequence[int]) -> float:
    """``|{c(i)}|``, the number of distinct classes among the samples (Lin et al. 2024,
    ``U_NumSet``), as a float; NaN without samples."""
    return float(len(np.unique(labels))) if len(labels) else float("nan")


@UNCERTAINTY.register(
    "num_semantic_sets",
    paper="Lin, Trivedi & Sun (2024), Generating with Confidence: Uncertainty Quantification for "
          "Black-box Large Language Models",
    url="https://arxiv.org/abs/2305.19187",
)
@dataclasses.dataclass(frozen=True)
class NumSemanticSets(ClassMeasure):
    """The number of meaning classes of an example's samples (:func:`num_semantic_sets_score`).

    A plain count, as LM-Polygraph's ``NumSemSets`` (estimators/num_sem_sets.py, line 93:
    ``float(len(connected_components))``), 1 for a single sample. The classes are the
    ``SemanticClasses`` statistic that ``semantic_entropy`` reads (greedy clustering against each
    class's first member, Kuhn et al.); LM-Polygraph instead counts the connected components of
    the graph "P(entail) > P(contradict) in both directions" (lines 60-89), which is transitive
    where the greedy clustering is not — the two counts differ when a chain of pairwise
    equivalences links two classes' first members.
    """

    def __call__(self, stats: Mapping[Any, Any]) -> np.ndarray:
        return score_examples(stats[self.classes], num_semantic_sets_score, self.id, "no samples")
