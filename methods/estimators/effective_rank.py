"""RankMe: the effective rank of a representation matrix."""

from __future__ import annotations

import dataclasses
import math
from typing import ClassVar

import numpy as np

from entropy_bench.methods.estimators.base import Estimator
from entropy_bench.methods.estimators.matrix_entropy import clean_spectrum
from entropy_bench.methods.records import SampleSet
from entropy_bench.methods.registry import ESTIMATORS


def effective_rank_of(singular_values: np.ndarray) -> float:
    """exp(−Σ p_k log p_k), p_k = σ_k / Σ σ (0 log 0 = 0)."""
    sigma = np.clip(np.asarray(singular_values, dtype=np.float64), 0, None)
    p = sigma[sigma > 0] / sigma.sum()
    return math.exp(float(-np.sum(p * np.log(p))))


@ESTIMATORS.register(
    "effective_rank",
    paper="Garrido, Balestriero, Najman & LeCun (2023), RankMe: Assessing the Downstream Performance "
    "of Pretrained Self-Supervised Representations by Their Rank",
    url="https://arxiv.org/abs/2210.02885",
)
@dataclasses.dataclass(frozen=True)
class EffectiveRank(Estimator):
    """RankMe, the effective rank of the representation matrix X [n, d] (Roy & Vetterli 2007).

        RankMe(X) = exp(−Σ_k p_k log p_k),   p_k = σ_k(X) / Σ_i σ_i(X)

    over the min(n, d) singular values σ_k of X (used as given, not centred). It lies in
    [1, rank X], equals the rank when the nonzero singular values are equal (e.g. orthonormal
    columns) and is scale-free. Garrido et al. add ε = 1e-7 to each p_k for numerical safety;
    it is left out here (0 log 0 = 0): with it the entropy moves by up to ≈ min(n, d) · ε ·
    log(1/ε), 1.2e-3 nats for d = 768.

    ``population(M)``: σ_k(X)/√n = √λ_k(Xᵀ X / n) → √λ_k(M) for M = E[x xᵀ], so the limit is the
    same formula on the square roots of M's eigenvalues (those within rounding of 0 taken as 0).
    """

    quantity: ClassVar[str] = "effective_rank"
    sample_kind: ClassVar[str] = "continuous"

    def estimate(self, samples: SampleSet) -> float:
        x = np.asarray(samples.x, dtype=np.float64).reshape(samples.n, -1)
        return effective_rank_of(np.linalg.svd(x, compute_uv=False))

    def population(self, second_moment: np.ndarray) -> float:
        eigenvalues = clean_spectrum(np.linalg.eigvalsh(np.asarray(second_moment, dtype=np.float64)))
        return effective_rank_of(np.sqrt(eigenvalues))
