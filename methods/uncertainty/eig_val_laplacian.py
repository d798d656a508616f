"""Sum of eigenvalues of the graph Laplacian: a continuous count of semantic sets."""

from __future__ import annotations

import dataclasses
import numpy as np

from entropy_bench.methods.registry import UNCERTAINTY
from entropy_bench.methods.uncertainty.graph import GraphMeasure, affinity, eigenvalues, normalized_laplacian


def eig_val_laplacian_score(similarity: np.ndarray) -> float:
    """``U_EigV = Σ_k max(0, 1 − λ_k)`` over the eigenvalues λ_k of the normalised Laplacian
    ``L = I − D^{-1/2} W D^{-1/2}`` of ``W = (S + Sᵀ)/2`` (Lin et al. 2024, eq. for U_EigV).

    λ = 0 has multiplicity the number of connected components, so k disjoint cliques score
    exactly k; weaker links between them move the score continuously below k.
    """
    lam = eigenvalues(normalized_laplacian(affinity(similarity)))
    return float(np.sum(np.clip(1.0 - lam, 0.0, None)))


@UNCERTAINTY.register(
    "eig_val_laplacian",
    paper="Lin, Trivedi & Sun (2024), Generating with Confidence: Uncertainty Quantification for "
          "Black-box Large Language Models (U_EigV)",
    url="https://arxiv.org/abs/2305.19187",
)
@dataclasses.dataclass(frozen=True)
class EigValLaplacian(GraphMeasure):
    """Sum of ``max(0, 1 − λ)`` over the normalised-Laplacian spectrum of the samples' graph.

    :func:`eig_val_laplacian_score` of the ``similarity`` statistic.

    The formula of LM-Polygraph's ``EigValLaplacian`` (estimators/eig_val_laplacian.py, lines
    65-77: ``W = (W + Wᵀ)/2``, ``L = I − D^{-1/2} W D^{-1/2}``, ``Σ max(0, 1 − λ)``), equal to
    it to rounding on graphs with every degree positive. LM-Polygraph's default graph is NLI
    entailment (``similarity=nli_entail`` here; its ``contra`` affinity is ``nli_contra``); the
    default here is ``jaccard``, which needs no model. Departures, on degenerate graphs only: a
    sample of degree 0 (possible with ``cosine`` only, a zero embedding) counts as a set of its
    own instead of LM-Polygraph's singular-matrix error, and negative cosines are edges of
    weight 0.
    """

    def graph_score(self, similarity: np.ndarray) -> float:
        return eig_val_laplacian_score(similarity)
