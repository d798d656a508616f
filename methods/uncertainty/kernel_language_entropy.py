"""Kernel language entropy: von Neumann entropy of a heat kernel over the samples' semantic graph."""

from __future__ import annotations

import dataclasses
from typing import Any, Mapping

import numpy as np
from scipy.special import entr

from entropy_bench.calculators.similarity import Similarity
from entropy_bench.methods.registry import UNCERTAINTY, require
from entropy_bench.methods.uncertainty.base import UncertaintyMeasure
from entropy_bench.methods.uncertainty.graph import eigenpairs, eigenvalues, graph_scores, laplacian, similarity_model

NLI = "nli"  # the paper's graph: P(entail) + ½ P(neutral) per direction
NORMALIZATIONS = ("diagonal", "trace")


def heat_kernel(similarity: np.ndarray, t: float) -> np.ndarray:
    """``K = exp(−t L)`` with ``L = D − W`` the (positive semidefinite) Laplacian of
    ``W = S + Sᵀ``, both directions summed as in KLE's graph, negative weights set to 0;
    computed from the eigendecomposition of the symmetric L."""
    w = np.clip(similarity + similarity.T, 0.0, None)
    lam, vectors = eigenpairs(laplacian(w))
    return (vectors * np.exp(-t * lam)) @ vectors.T


def density(kernel: np.ndarray, normalize: str) -> np.ndarray:
    """A unit-trace ρ from a positive definite kernel: ``diagonal`` — ``K_ij / sqrt(K_ii K_jj) / n``
    (KLE's code and LM-Polygraph); ``trace`` — ``K / tr(K)``."""
    if normalize == "trace":
        return kernel / np.trace(kernel)
    d = np.sqrt(np.diag(kernel))
    return kernel / np.outer(d, d) / len(kernel)


def von_neumann_entropy(rho: np.ndarray) -> float:
    """``−tr(ρ log ρ) = −Σ_k μ_k log μ_k`` over ρ's eigenvalues, ``0 log 0 = 0`` (round-off
    negatives taken as 0)."""
    mu = np.clip(eigenvalues((rho + rho.T) / 2), 0.0, None)
    return float(np.sum(entr(mu)))


def kernel_language_entropy_score(similarity: np.ndarray, t: float, normalize: str) -> float:
    """``KLE = VNE(ρ(exp(−t L)))`` (Nikitin et al. 2024): :func:`heat_kernel`, :func:`density`,
    :func:`von_neumann_entropy`. In nats; between 0 (one tight meaning) and log n (samples
    unrelated: ``L = 0``, ``ρ = I/n``)."""
    return von_neumann_entropy(density(heat_kernel(similarity, t), normalize))


@UNCERTAINTY.register(
    "kernel_language_entropy",
    paper="Nikitin, Kossen, Gal & Marttinen (2024), Kernel Language Entropy: Fine-grained Uncertainty "
          "Quantification for LLMs from Semantic Similarities (KLE-heat)",
    url="https://arxiv.org/abs/2405.20003",
)
@dataclasses.dataclass(frozen=True)
class KernelLanguageEntropy(UncertaintyMeasure):
    """Von Neumann entropy of the heat kernel of the samples' semantic graph.

    :func:`kernel_language_entropy_score`.

    ``similarity``: ``nli`` (default) is the paper's graph, ``P(entail) + ½ P(neutral)`` of the NLI
    ``model`` in each direction — the mean of the ``nli_entail`` and ``nli_contra`` similarities
    (``1 − P(contra) = P(entail) + P(neutral)``) — or any ``Similarity`` kind. ``t``: the heat
    kernel's time, 0.3 as LM-Polygraph (the paper tunes it in 0.1 … 0.7).

    Follows LM-Polygraph's ``KernelLanguageEntropy`` (estimators/kernel_language_entropy.py as
    fixed in 4c1123c6; lines 9-15 and 110-129 at efea882d): ``W = E + Eᵀ + ½(N + Nᵀ)`` with
    probabilities, ``L = D − W`` (its first version, eb568a66, used ``W − D``: the anti-heat
    kernel, which ranks diverse samples *lower*),
    ``expm(−t L)``, the diagonal normalisation ``/ n`` (lines 18-22, 36-37). It departs in one
    point: LM-Polygraph (``scale=True``, lines 25-30, 48-49) divides by log n, a constant for a
    fixed number of samples (so the same ranking) but 0/0 for a single sample; the score here
    stays in nats (0 for one sample).
    """

    similarity: str = NLI
    model: str = ""
    t: float = 0.3
    normalize: str = "diagonal"

    def __post_init__(self):
        kind = "nli_entail" if self.similarity == NLI else self.similarity
        object.__setattr__(self, "model", similarity_model(self.name, kind, self.model))
        require(self.t > 0, self.name, "t", f"must be positive, got {self.t}")
        require(self.normalize in NORMALIZATIONS, self.name, "normalize",
                f"must be one of {', '.join(NORMALIZATIONS)}, got {self.normalize!r}")

    @property
    def graphs(self) -> tuple[Similarity, ...]:
        """The similarity statistics whose mean is the graph."""
        if self.similarity == NLI:
            return Similarity("nli_entail", self.model), Similarity("nli_contra", self.model)
        return (Similarity(self.similarity, self.model),)

    @property
    def requires(self) -> frozenset:  # type: ignore[override]
        return frozenset(self.graphs)

    def __call__(self, stats: Mapping[Any, Any]) -> np.ndarray:
        per_example = zip(*(stats[g] for g in self.graphs))
        matrices = [np.mean([np.asarray(m, dtype=float) for m in ms], axis=0) for ms in per_example]
        return graph_scores(matrices, lambda s: kernel_language_entropy_score(s, self.t, self.normalize), self.id)
