"""Differential entropy of the maximum-likelihood Gaussian fit."""

from __future__ import annotations

import dataclasses
import math
from typing import ClassVar

import numpy as np

from entropy_bench.methods.estimators.base import Estimator
from entropy_bench.methods.records import SampleSet
from entropy_bench.methods.registry import ESTIMATORS

LOG_2PIE = math.log(2 * math.pi * math.e)


def ml_covariance(x: np.ndarray) -> np.ndarray:
    """Σ̂ = (1/n) Σ_i (x_i − x̄)(x_i − x̄)ᵀ [d, d], the maximum-likelihood covariance."""
    centred = x - x.mean(axis=0)
    return centred.T @ centred / len(x)


def log_det(covariance: np.ndarray) -> float:
    """log det Σ from its eigenvalues; −∞ where Σ is singular to rounding (λ_min ≤ d · ε_float64 · λ_max)."""
    lam = np.linalg.eigvalsh(covariance)
    if lam[0] <= len(lam) * np.finfo(np.float64).eps * lam[-1]:
        return float("-inf")
    return float(np.sum(np.log(lam)))


def gaussian_entropy(covariance: np.ndarray) -> float:
    """h(N(μ, Σ)) = ½ log det(2πe Σ) = ½ (d log 2πe + log det Σ); −∞ if Σ is singular."""
    return 0.5 * (len(covariance) * LOG_2PIE + log_det(covariance))


@ESTIMATORS.register(
    "gaussian",
    paper="Cover & Thomas (2006), Elements of Information Theory, Theorem 8.4.1 (entropy of a multivariate normal)",
)
@dataclasses.dataclass(frozen=True)
class Gaussian(Estimator):
    """Plug-in differential entropy of the Gaussian fitted by maximum likelihood.

        Ĥ = ½ log det(2πe Σ̂),   Σ̂ = (1/n) Σ_i (x_i − x̄)(x_i − x̄)ᵀ

    Consistent for Gaussian data, with bias (n Σ̂ is Wishart with n − 1 degrees of freedom)

        E Ĥ − H = ½ Σ_{i=1}^{d} [ψ((n − i)/2) − log(n/2)] ≈ −d(d + 3)/(4n);

    for any other distribution it converges to the entropy of the Gaussian with the same
    covariance, an upper bound on the true entropy (the Gaussian maximises entropy at fixed
    covariance). With d ≥ n or collinear coordinates Σ̂ is singular and Ĥ = −∞.
    """

    quantity: ClassVar[str] = "differential_entropy"
    sample_kind: ClassVar[str] = "continuous"

    def estimate(self, samples: SampleSet) -> float:
        x = np.asarray(samples.x, dtype=np.float64).reshape(samples.n, -1)
        return gaussian_entropy(ml_covariance(x))
