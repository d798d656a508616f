"""Degree matrix: one minus the mean similarity of the samples' graph."""

from __future__ import annotations

import dataclasses
import numpy as np

from entropy_bench.methods.registry import UNCERTAINTY
from entropy_bench.methods.uncertainty.graph import GraphMeasure, affinity, degrees


def degree_matrix_score(similarity: np.ndarray) -> float:
    """``U_Deg = tr(n·I − D) / n² = 1 − Σ_ij W_ij / n²`` with ``W = (S + Sᵀ)/2`` and
    ``D = diag(W 1)`` (Lin et al. 2024): 0 when every pair is fully similar, 1 − 1/n when
    only the diagonal is."""
    w = affinity(similarity)
    n = len(w)
    return float(np.sum(n - degrees(w)) / n**2)


@UNCERTAINTY.register(
    "degree_matrix",
    paper="Lin, Trivedi & Sun (2024), Generating with Confidence: Uncertainty Quantification for "
          "Black-box Large Language Models (U_Deg)",
    url="https://arxiv.org/abs/2305.19187",
)
@dataclasses.dataclass(frozen=True)
class DegreeMatrix(GraphMeasure):
    """``tr(n·I − D)/n²`` of the samples' similarity graph (:func:`degree_matrix_score`).

    LM-Polygraph's ``DegMat`` (estimators/deg_mat.py, lines 58-72) computes
    ``np.trace(n - D) / n**2`` — the trace of the elementwise ``n − D``, i.e. ``Σ_i (n − d_i)``,
    the same number. Its default graph is NLI entailment (``similarity=nli_entail`` here); the
    default here is ``jaccard``, which needs no model. Negative cosines are edges of weight 0.
    """

    def graph_score(self, similarity: np.ndarray) -> float:
        return degree_matrix_score(similarity)
