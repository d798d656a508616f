"""EigenScore: the log-determinant of the covariance of the samples' hidden states."""

from __future__ import annotations

import dataclasses
from typing import Any, Mapping

import numpy as np

from entropy_bench.calculators.sample_hidden_states import SampleHiddenStates
from entropy_bench.methods.registry import UNCERTAINTY, require
from entropy_bench.methods.uncertainty.base import UncertaintyMeasure
from entropy_bench.methods.uncertainty.graph import score_examples


def eigen_score(embeddings: np.ndarray, alpha: float) -> float:
    """``(1/K) Σ_k log λ_k`` of ``Σ = Z J_d Zᵀ + α I_K`` for the K sample embeddings, the rows of
    ``Z`` [K, d], with the centring matrix ``J_d = I_d − (1/d) 1 1ᵀ`` (Chen et al. 2024, eq. 5;
    LM-Polygraph's ``EigenScore``, which also centres each embedding over its d features):
    ``(1/K) log det Σ``, the differential entropy of the embeddings up to constants. Eigenvalues
    that round-off leaves non-positive count as 1e-10, as in LM-Polygraph."""
    z = embeddings - embeddings.mean(axis=1, keepdims=True)  # Z J_d: each row centred over its features
    covariance = z @ z.T + alpha * np.eye(len(z))
    eigenvalues = np.linalg.eigvalsh(covariance)
    return float(np.mean(np.log(np.where(eigenvalues > 0, eigenvalues, 1e-10))))


@UNCERTAINTY.register(
    "eigen_score",
    paper="Chen et al. (2024), INSIDE: LLMs' Internal States Retain the Power of Hallucination Detection (ICLR 2024)",
    url="https://arxiv.org/abs/2402.03744",
)
@dataclasses.dataclass(frozen=True)
class EigenScore(UncertaintyMeasure):
    """:func:`eigen_score` of the samples' hidden states (``sample_hidden_states``: the model's
    ``layer``, by default the middle one, at each sample's last token): samples that the model
    represents alike span a small volume → low uncertainty. ``alpha``: the ridge (the paper's
    1e-3). INSIDE's feature clipping of the test-time activations is not part of it."""

    alpha: float = 1e-3
    layer: int | None = None

    def __post_init__(self):
        require(self.alpha > 0, self.name, "alpha", f"must be positive, got {self.alpha}")
        require(self.layer is None or self.layer >= 0, self.name, "layer", f"must be >= 0 or None, got {self.layer}")

    @property
    def requires(self) -> frozenset:  # type: ignore[override]
        return frozenset({SampleHiddenStates(self.layer)})

    def __call__(self, stats: Mapping[Any, Any]) -> np.ndarray:
        def score(states: Any) -> float:
            z = np.asarray(states, dtype=float)
            return eigen_score(z, self.alpha) if z.size and np.isfinite(z).all() else float("nan")

        return score_examples(stats[SampleHiddenStates(self.layer)], score, self.id, "a non-finite hidden state")
