"""Matrix Nuclear-Norm of a representation matrix, exact or by the L1,2 approximation."""

from __future__ import annotations

import dataclasses
import math
from typing import ClassVar

import numpy as np
import torch

from entropy_bench.methods.estimators.base import Estimator
from entropy_bench.methods.estimators.matrix_entropy import centre_and_row_normalise, clean_spectrum
from entropy_bench.methods.records import SampleSet
from entropy_bench.methods.registry import ESTIMATORS, require

APPROXIMATIONS = ("exact", "l12")


def nuclear_norm(x: np.ndarray) -> float:
    """‖X‖_* = Σ_i σ_i(X)."""
    return float(np.linalg.svd(x, compute_uv=False).sum())


def l12_norm(x: np.ndarray) -> float:
    """Σ of the D = min(n, d) largest column norms ‖X_{:,j}‖₂ of X [n, d] (the L1,2 approximation)."""
    columns = np.sort(np.linalg.norm(x, axis=0))[::-1]
    return float(columns[: min(x.shape)].sum())


def paper_matrix_nuclear_norm(r: torch.Tensor, approx: str = "l12") -> float:
    """The Matrix Nuclear-Norm of hidden states r [n, d] exactly as Li et al.'s code computes it.

    ``code/MNN.py`` (MLGroupJLU/MatrixNuclearNorm): Z = centred, row-normalised r, then the sum
    of Z's D = min(n, d) largest column norms, divided by the sequence length n (``approx="l12"``;
    ``"exact"`` puts ‖Z‖_* in its place).
    """
    z = centre_and_row_normalise(r)
    if approx == "exact":
        value = torch.linalg.svdvals(z).sum()
    else:
        value = torch.sort(torch.linalg.vector_norm(z, dim=0), descending=True)[0][: min(z.shape)].sum()
    return float(value) / z.shape[0]


@ESTIMATORS.register(
    "matrix_nuclear_norm",
    paper="Li, Xia, Chang & Wu (2025), Large Language Model Evaluation via Matrix Nuclear-Norm",
    url="https://arxiv.org/abs/2410.10672",
)
@dataclasses.dataclass(frozen=True)
class MatrixNuclearNorm(Estimator):
    """Nuclear norm of the representation matrix X [n, d], per √n, exact or L1,2-approximated.

        exact:  ‖X‖_* / √n = Σ_i σ_i(X) / √n               → Σ_i √λ_i(M)
        l12:    Σ_{j ≤ min(n,d)} ‖X_{:,(j)}‖₂ / √n          → Σ_j √M_jj

    where ‖X_{:,(1)}‖₂ ≥ ‖X_{:,(2)}‖₂ ≥ … are the column norms sorted descending and the limits
    (``population(M)``, M = E[x xᵀ]) hold as n → ∞ because σ_i(X)/√n = √λ_i(Xᵀ X / n) and
    ‖X_{:,j}‖₂/√n = √(Xᵀ X / n)_jj. The L1,2 form is Li et al.'s O(nd) replacement for the SVD
    (after Cui et al.'s Fast BNM): X = Σ_j X_{:,j} e_jᵀ and the triangle inequality give
    ‖X‖_* ≤ Σ_j ‖X_{:,j}‖₂, with equality iff the columns are orthogonal — the case the paper
    appeals to (near one-hot prediction rows have near-disjoint column supports). When d > n
    only the n largest columns count, and l12 can then fall below the exact value. In the limit
    Σ √M_jj ≥ Σ √λ_i(M) (the diagonal is majorised by the spectrum and √ is concave), with
    equality iff M is diagonal.

    **Normalisation against the paper's.** Li et al. centre the rows, scale each to unit norm
    (z_i = (r_i − r̄)/‖r_i − r̄‖) and divide the L1,2 sum by the sequence length n
    (:func:`paper_matrix_nuclear_norm`). That value is this estimator (l12) on Z divided by a
    further √n: with ‖Z‖_F = √n it lies in [1/√n, √(min(n, d)/n)] and tends to 0 as n grows at
    fixed d, so it has no population limit, and centring plus row scaling make it a function of
    more than E[x xᵀ]. Here X is used as given and divided by √n, the normalisation with a limit;
    apply the paper's preprocessing to the samples first to reproduce its ranking up to the
    √n factor.
    """

    quantity: ClassVar[str] = "nuclear_norm"
    sample_kind: ClassVar[str] = "continuous"

    approx: str = "exact"

    def __post_init__(self):
        choices = ", ".join(APPROXIMATIONS)
        require(self.approx in APPROXIMATIONS, self.name, "approx", f"must be one of {choices}, got {self.approx!r}")

    def estimate(self, samples: SampleSet) -> float:
        x = np.asarray(samples.x, dtype=np.float64).reshape(samples.n, -1)
        norm = nuclear_norm(x) if self.approx == "exact" else l12_norm(x)
        return norm / math.sqrt(samples.n)

    def population(self, second_moment: np.ndarray) -> float:
        m = np.asarray(second_moment, dtype=np.float64)
        if self.approx == "exact":
            return float(np.sqrt(clean_spectrum(np.linalg.eigvalsh(m))).sum())
        return float(np.sqrt(np.clip(np.diag(m), 0, None)).sum())
