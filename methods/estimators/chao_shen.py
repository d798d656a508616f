"""The Chao–Shen coverage-adjusted Horvitz–Thompson entropy estimate."""

from __future__ import annotations

import dataclasses

import numpy as np

from entropy_bench.methods.estimators.base import DiscreteEstimator
from entropy_bench.methods.estimators.plugin import observed_counts
from entropy_bench.methods.registry import ESTIMATORS


def coverage(observed: np.ndarray) -> float:
    """Good–Turing sample coverage ``C = 1 − f1/n``, with f1 := n − 1 when every count is 1 (n ≥ 1)."""
    n = observed.sum()
    singletons = float(np.sum(observed == 1))
    if singletons == n:
        singletons = n - 1
    return 1.0 - singletons / n


@ESTIMATORS.register(
    "chao_shen",
    paper="Chao & Shen (2003), Nonparametric Estimation of Shannon's Index of Diversity When There Are Unseen Species in Sample",
    url="https://doi.org/10.1023/A:1026096204727",
)
@dataclasses.dataclass(frozen=True)
class ChaoShen(DiscreteEstimator):
    """Horvitz–Thompson sum over the observed symbols with coverage-shrunk probabilities.

    ``Ĥ_CS = −Σ_i p̃_i log p̃_i / (1 − (1 − p̃_i)^n)``, ``p̃_i = C · c_i / n``, where
    ``C = 1 − f1/n`` is the Good–Turing estimate of the probability mass of the observed
    symbols (f1 = number of symbols seen once). Shrinking by C hands the unseen mass to the
    seen symbols' terms; dividing by 1 − (1 − p̃_i)^n, the chance that symbol i is seen at all,
    makes the sum over seen symbols a Horvitz–Thompson estimate of the sum over all symbols.
    When every count is 1 (f1 = n), f1 is taken as n − 1 so that C = 1/n > 0, as in Chao & Shen's
    software and the R package ``entropy``.

    Nats; ``alphabet_size`` plays no part; every term is ≥ 0. n = 0 gives 0; a point mass
    (n = 1 included, where f1 := 0 and C = 1) gives 0.
    """

    def from_counts(self, counts: np.ndarray, alphabet_size: int | None) -> float:
        observed = observed_counts(counts)
        n = observed.sum()
        if n == 0:
            return 0.0
        shrunk = coverage(observed) * observed / n
        with np.errstate(divide="ignore"):  # p̃ = 1 (a point mass): log1p(−1) = −inf, seen = 1
            seen = -np.expm1(n * np.log1p(-shrunk))  # 1 − (1 − p̃)^n, accurate for small p̃
        return float(np.sum(-shrunk * np.log(shrunk) / seen))
