"""Eccentricity: the spread of the samples' spectral embeddings."""

from __future__ import annotations

import dataclasses
import numpy as np

from entropy_bench.methods.registry import UNCERTAINTY, require
from entropy_bench.methods.uncertainty.graph import GraphMeasure, affinity, eigenpairs, normalized_laplacian


def eccentricity_score(similarity: np.ndarray, threshold: float) -> float:
    """``U_Ecc = ‖V − 1 v̄ᵀ‖_F`` (Lin et al. 2024).

    ``V`` [n, k] holds the eigenvectors u_1 … u_k of the normalised Laplacian of
    ``W = (S + Sᵀ)/2`` whose eigenvalues are below ``threshold``: row j is sample j's spectral
    embedding. Each column is centred over the samples (``v̄`` the mean row) and the score is the
    Frobenius norm, ``sqrt(Σ_k ‖u_k − mean(u_k)‖²)``. The norm is that of the projection onto
    the kept eigenspace, so the arbitrary basis (sign, rotation) of a repeated eigenvalue does not
    change it. Samples in k disjoint cliques score ``sqrt(k − 1)``.
    """
    lam, vectors = eigenpairs(normalized_laplacian(affinity(similarity)))
    kept = vectors[:, lam < threshold]
    return float(np.linalg.norm(kept - kept.mean(axis=0)))


@UNCERTAINTY.register(
    "eccentricity",
    paper="Lin, Trivedi & Sun (2024), Generating with Confidence: Uncertainty Quantification for "
          "Black-box Large Language Models (U_Ecc)",
    url="https://arxiv.org/abs/2305.19187",
)
@dataclasses.dataclass(frozen=True)
class Eccentricity(GraphMeasure):
    """Norm of the centred spectral embeddings of the samples' similarity graph.

    :func:`eccentricity_score` of the ``similarity`` statistic: far-apart embeddings → high
    uncertainty.

    LM-Polygraph's ``Eccentricity`` (estimators/eccentricity.py, lines 73-93): eigenvectors of
    ``L = I − D^{-1/2} W D^{-1/2}`` with eigenvalue ``< thres`` (default 0.9, here
    ``threshold``), each centred (``x - x.mean(0)`` over the samples), ``U = ‖(‖x_k − x̄_k‖₂)_k‖₂``
    — the Frobenius norm computed here. Its default graph is NLI entailment
    (``similarity=nli_entail`` here); the default here is ``jaccard``, which needs no model. On
    degenerate graphs, as ``eig_val_laplacian``: a degree-0 sample is its own component, negative
    cosines are weight 0.
    """

    threshold: float = 0.9

    def __post_init__(self):
        super().__post_init__()
        require(self.threshold > 0, self.name, "threshold",
                f"must be positive (the Laplacian's eigenvalues lie in [0, 2]), got {self.threshold}")

    def graph_score(self, similarity: np.ndarray) -> float:
        return eccentricity_score(similarity, self.threshold)
