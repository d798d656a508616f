"""Rényi-α matrix entropy of a representation's trace-normalised Gram matrix."""

from __future__ import annotations

import dataclasses
import math
from typing import ClassVar

import numpy as np
import torch

from entropy_bench.methods.estimators.base import Estimator
from entropy_bench.methods.records import SampleSet
from entropy_bench.methods.registry import ESTIMATORS, require


def clean_spectrum(eigenvalues: np.ndarray) -> np.ndarray:
    """A PSD matrix's eigenvalues with those within rounding of 0 set to 0.

    Eigenvalues up to size · ε_float64 · λ_max (numpy's ``matrix_rank`` tolerance) are rounding
    noise of a rank-deficient matrix; negative ones always are.
    """
    lam = np.asarray(eigenvalues, dtype=np.float64)
    return np.where(lam > lam.size * np.finfo(np.float64).eps * max(lam.max(initial=0.0), 0.0), lam, 0.0)


def unit_trace_spectrum(eigenvalues: np.ndarray) -> np.ndarray:
    """λ / Σλ over :func:`clean_spectrum`: the spectrum of A / tr A."""
    lam = clean_spectrum(eigenvalues)
    return lam / lam.sum()


def renyi_entropy(p: np.ndarray, alpha: float) -> float:
    """S_α(p) = log(Σ p_i^α) / (1 − α); S_1(p) = −Σ p_i log p_i (0 log 0 = 0), for p ≥ 0, Σ p = 1."""
    p = p[p > 0]
    if alpha == 1:
        return float(-np.sum(p * np.log(p)))
    return float(np.log(np.sum(p**alpha)) / (1 - alpha))


def gram_spectrum(x: np.ndarray) -> np.ndarray:
    """Eigenvalues of K = X Xᵀ [n, n] from the smaller of X Xᵀ and Xᵀ X (the same nonzero ones)."""
    gram = x @ x.T if x.shape[0] <= x.shape[1] else x.T @ x
    return np.linalg.eigvalsh(gram)


def matrix_entropy(x: np.ndarray, alpha: float) -> float:
    """S_α(K / tr K), K = X Xᵀ, computed on the smaller side."""
    return renyi_entropy(unit_trace_spectrum(gram_spectrum(x)), alpha)


# --- reference routes, for the timing study (torch, any dtype and device) ---------------------


def gram_matrix_entropy(x: torch.Tensor, alpha: float = 1.0) -> float:
    """S_α(K / tr K) by the eigendecomposition of the n × n Gram matrix K = X Xᵀ itself."""
    return renyi_entropy(unit_trace_spectrum(torch.linalg.eigvalsh(x @ x.T).double().cpu().numpy()), alpha)


def smaller_side_matrix_entropy(x: torch.Tensor, alpha: float = 1.0) -> float:
    """S_α(K / tr K) from the eigenvalues of the smaller of X Xᵀ and Xᵀ X (this estimator's route, in torch)."""
    gram = x @ x.T if x.shape[0] <= x.shape[1] else x.T @ x
    return renyi_entropy(unit_trace_spectrum(torch.linalg.eigvalsh(gram).double().cpu().numpy()), alpha)


def centre_and_row_normalise(r: torch.Tensor) -> torch.Tensor:
    """z_i = (r_i − r̄) / ‖r_i − r̄‖₂: the hidden-state preprocessing of Wei et al. (2024) and Li et al."""
    centred = r - r.mean(dim=0)
    return centred / torch.linalg.vector_norm(centred, dim=1, keepdim=True)


def paper_matrix_entropy(r: torch.Tensor) -> float:
    """Matrix entropy the way the Matrix Nuclear-Norm repository's baseline computes it.

    ``code/compute_entropy_time.py`` (MLGroupJLU/MatrixNuclearNorm): Z = centred, row-normalised
    hidden states [n, d], A = Zᵀ Z / n [d, d], σ = singular values of A / tr A from a full SVD
    (``torch.svd``, singular vectors included), then −Σ σ log σ / log d. So its matrix is the
    d × d covariance side, normalised to [0, 1] by log d; it equals
    ``matrix_entropy(Z, 1) / log d``.
    """
    z = centre_and_row_normalise(r)
    a = z.T @ z / z.shape[0]
    sigma = torch.linalg.svd(a / torch.trace(a), full_matrices=False)[1]
    return float(-(sigma * torch.log(sigma)).nansum() / math.log(a.shape[0]))


@ESTIMATORS.register(
    "matrix_entropy",
    paper="Giraldo, Rao & Príncipe (2015), Measures of Entropy From Data Using Infinitely Divisible Kernels",
    url="https://arxiv.org/abs/1211.2459",
)
@dataclasses.dataclass(frozen=True)
class MatrixEntropy(Estimator):
    """Rényi-α entropy of the trace-normalised Gram matrix of the representation (nats).

    For rows x_1 … x_n ∈ R^d of X [n, d] and the linear kernel, A = K / tr K with K = X Xᵀ, and

        S_α(A) = log tr(A^α) / (1 − α) = log Σ_i λ_i^α / (1 − α),   S_1(A) = −Σ_i λ_i log λ_i

    over A's eigenvalues λ_i (α = 1, the limit, is the von Neumann entropy). K and Xᵀ X share
    their nonzero eigenvalues (both are the squared singular values of X), so A's spectrum is
    computed from whichever of the two is smaller, min(n, d)²; eigenvalues within rounding of 0
    count as 0. S_α ∈ [0, log rank X]: 0 for rank 1, log d for isotropic data.

    ``population(M)`` is the same formula on M / tr M for M = E[x xᵀ]: as n → ∞, Xᵀ X / n → M
    and S_α is scale-free, so the estimate converges to it (biased low at finite n: the sample
    spectrum is more spread than the population one). The data are not centred: centre them
    first for the entropy of the covariance. Li et al.'s Matrix Nuclear-Norm paper compares
    against the centred, row-normalised, log d–normalised variant (:func:`paper_matrix_entropy`).
    """

    quantity: ClassVar[str] = "matrix_entropy"
    sample_kind: ClassVar[str] = "continuous"

    alpha: float = 1.0

    def __post_init__(self):
        ok = isinstance(self.alpha, (int, float)) and math.isfinite(self.alpha) and self.alpha > 0
        require(ok, self.name, "alpha", f"must be a finite number > 0, got {self.alpha!r}")

    def estimate(self, samples: SampleSet) -> float:
        return matrix_entropy(np.asarray(samples.x, dtype=np.float64).reshape(samples.n, -1), self.alpha)

    def population(self, second_moment: np.ndarray) -> float:
        return renyi_entropy(unit_trace_spectrum(np.linalg.eigvalsh(np.asarray(second_moment, dtype=np.float64))), self.alpha)
