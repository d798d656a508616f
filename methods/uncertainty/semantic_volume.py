"""Semantic volume: the log-volume spanned by the samples' unit embeddings."""

from __future__ import annotations

import dataclasses
from typing import Any, Mapping

import numpy as np

from entropy_bench.calculators.embeddings import Embeddings
from entropy_bench.calculators.question_embeddings import QuestionEmbeddings
from entropy_bench.methods.registry import UNCERTAINTY, require
from entropy_bench.methods.uncertainty.base import UncertaintyMeasure
from entropy_bench.methods.uncertainty.graph import score_examples
from entropy_bench.models.encoders import DEFAULT_EMBEDDING_MODEL

SOURCES = ("responses", "queries")


def unit_rows(vectors: np.ndarray) -> np.ndarray:
    """Each row divided by its Euclidean norm; a zero row stays zero."""
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    return vectors / np.where(norms > 0, norms, 1.0)


def principal_components(vectors: np.ndarray, n_components: int) -> np.ndarray:
    """The rows' coordinates [n, ≤ n_components] on their first principal axes (rows centred,
    as PCA does; fewer columns when the rows span fewer dimensions)."""
    centred = vectors - vectors.mean(axis=0)
    _, _, axes = np.linalg.svd(centred, full_matrices=False)
    return centred @ axes[:n_components].T


def semantic_volume_score(embeddings: np.ndarray, n_components: int | None, eps: float) -> float:
    """``log det(Ṽ Ṽᵀ + ε I_n)`` of n embeddings, the rows of ``embeddings`` [n, d] (Li et al. 2025).

    ``Ṽ``: the rows unit-normalised, then — with ``n_components`` — replaced by their principal
    coordinates. ``Ṽ Ṽᵀ`` is the n×n Gram matrix of the vectors, written ``ṼᵀṼ`` in the paper,
    whose Ṽ holds the vectors as columns; it has the nonzero eigenvalues of the d×d ``ṼᵀṼ``
    here, so the two log-determinants differ by ``(n − d) log ε``, a constant for a given n and d
    (same ranking). Computed as ``Σ_k log(λ_k + ε)`` with the Gram eigenvalues ``λ_k = σ_k²``
    from the singular values of Ṽ (zero where Ṽ has fewer than n): a zero eigenvalue of the
    Gram matrix itself would come out as round-off of order 1e-16, not negligible beside
    ε = 1e-10. The Gram matrix is invariant to rotations of the embedding space; for unit vectors
    it is smallest (rank 1: ``log(n + ε) + (n − 1) log ε``) when all embeddings are identical,
    and with PCA identical embeddings centre to 0 (``n log ε``).
    """
    reduced = unit_rows(embeddings)
    if n_components is not None:
        reduced = principal_components(reduced, n_components)
    lam = np.zeros(len(reduced))
    sigma = np.linalg.svd(reduced, compute_uv=False)
    lam[: len(sigma)] = sigma**2
    return float(np.sum(np.log(lam + eps)))


@UNCERTAINTY.register(
    "semantic_volume",
    paper="Li et al. (2025), Semantic Volume: Quantifying and Detecting both External and Internal "
          "Uncertainty in LLMs",
    url="https://arxiv.org/abs/2502.21239",
)
@dataclasses.dataclass(frozen=True)
class SemanticVolume(UncertaintyMeasure):
    """Log-determinant of the Gram matrix of unit embeddings of an example's perturbations.

    :func:`semantic_volume_score`: dispersed meanings span a larger volume → high uncertainty.

    ``source``: ``responses`` (internal uncertainty: the embeddings of an example's samples, the
    ``Embeddings(model)`` statistic) or ``queries`` (external uncertainty: the embeddings of the
    question and ``n_perturbations`` perturbations of it by the cell's model, the
    ``QuestionEmbeddings(model, n)`` statistic — the paraphrases Inv-Entropy also reads, so the
    two share them; the paper prompts an LLM to perturb the query, and its own prompt is not
    reproduced). ``n_perturbations``: required with ``queries`` (the paper's experiments: 20),
    refused with ``responses`` (its n is the sweep's ``n_samples``). ``n_components``: PCA
    dimension (None: no PCA); ``eps``: the ridge ε. Not in LM-Polygraph.
    """

    source: str = "responses"
    model: str = DEFAULT_EMBEDDING_MODEL
    n_components: int | None = None
    eps: float = 1e-10
    n_perturbations: int | None = None

    def __post_init__(self):
        require(self.source in SOURCES, self.name, "source",
                f"must be one of {', '.join(SOURCES)}, got {self.source!r}")
        if self.source == "queries":
            require(self.n_perturbations is not None and self.n_perturbations >= 1, self.name, "n_perturbations",
                    f"must be a positive number of perturbed queries with source=queries (the paper: 20), "
                    f"got {self.n_perturbations}")
        else:
            require(self.n_perturbations is None, self.name, "n_perturbations",
                    "applies to source=queries only; the responses are the sweep's n_samples samples")
        require(self.n_components is None or self.n_components >= 1, self.name, "n_components",
                f"must be a positive number of principal components or None, got {self.n_components}")
        require(self.eps > 0, self.name, "eps", f"must be positive, got {self.eps}")
        require(bool(self.model), self.name, "model", "must name a sentence-embedding model")

    @property
    def params(self) -> dict[str, Any]:
        """The id's parameters: ``n_perturbations`` only where it applies (source=queries), so
        that the ids of the responses variant stay those of the sweeps already run."""
        params = super().params
        if self.n_perturbations is None:
            del params["n_perturbations"]
        return params

    @property
    def _embeddings(self) -> Embeddings | QuestionEmbeddings:
        if self.source == "queries":
            return QuestionEmbeddings(self.model, self.n_perturbations)
        return Embeddings(self.model)

    @property
    def requires(self) -> frozenset:  # type: ignore[override]
        return frozenset({self._embeddings})

    def __call__(self, stats: Mapping[Any, Any]) -> np.ndarray:
        def score(embeddings: Any) -> float:
            e = np.asarray(embeddings, dtype=float)
            return semantic_volume_score(e, self.n_components, self.eps) if np.isfinite(e).all() else float("nan")

        return score_examples(stats[self._embeddings], score, self.id, "an embedding has non-finite entries")
