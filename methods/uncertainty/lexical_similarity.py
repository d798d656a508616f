"""Lexical similarity: minus the mean pairwise overlap of the samples' texts."""

from __future__ import annotations

import dataclasses
from typing import Any, Mapping

import numpy as np

from entropy_bench.calculators.similarity import LEXICAL, Similarity
from entropy_bench.methods.registry import UNCERTAINTY, require
from entropy_bench.methods.uncertainty.base import UncertaintyMeasure
from entropy_bench.methods.uncertainty.graph import NON_FINITE, graph_scores


def lexical_similarity_score(similarity: np.ndarray) -> float:
    """``−(2 / (n(n−1))) Σ_{i<j} S_ij``: minus the mean similarity over the pairs of distinct
    samples (the upper triangle, diagonal excluded); NaN for fewer than two samples (no pair)."""
    n = len(similarity)
    if n < 2:
        return float("nan")
    return float(-np.mean(similarity[np.triu_indices(n, k=1)]))


@UNCERTAINTY.register(
    "lexical_similarity",
    paper="Fomicheva et al. (2020), Unsupervised Quality Estimation for Neural Machine Translation "
          "(lexical similarity of samples), a baseline of Kuhn, Gal & Farquhar (2023)",
    url="https://arxiv.org/abs/2005.10608",
)
@dataclasses.dataclass(frozen=True)
class LexicalSimilarity(UncertaintyMeasure):
    """Minus the mean pairwise ``metric`` similarity of an example's samples.

    :func:`lexical_similarity_score`: samples that share few words → high uncertainty.

    ``metric``: ``rouge_l`` (ROUGE-L F1 with stemming) or ``jaccard`` (word sets), the
    ``Similarity`` statistic. The same score as LM-Polygraph's ``LexicalSimilarity``
    (estimators/lexical_similarity.py, lines 73-78: ``-np.mean`` over the pairs i < j; its
    default ``rougeL`` with ``use_stemmer=True``, line 36); LM-Polygraph's BLEU and ROUGE-1/2
    are not provided. A single sample has no pair: NaN with a warning (LM-Polygraph's
    ``np.mean([])`` is NaN as well, with numpy's warning only).
    """

    metric: str = "rouge_l"

    def __post_init__(self):
        require(self.metric in LEXICAL, self.name, "metric",
                f"must be one of {', '.join(LEXICAL)}, got {self.metric!r}")

    @property
    def requires(self) -> frozenset:  # type: ignore[override]
        return frozenset({Similarity(self.metric)})

    def __call__(self, stats: Mapping[Any, Any]) -> np.ndarray:
        return graph_scores(stats[Similarity(self.metric)], lexical_similarity_score, self.id,
                            f"a single sample has no pair to compare, or {NON_FINITE}")
