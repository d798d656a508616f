"""The plug-in (maximum-likelihood) entropy estimate."""

from __future__ import annotations

import dataclasses

import numpy as np

from entropy_bench.methods.estimators.base import DiscreteEstimator
from entropy_bench.methods.registry import ESTIMATORS


def observed_counts(counts: np.ndarray) -> np.ndarray:
    """The nonzero entries of ``counts`` as float64; negative or fractional counts raise."""
    counts = np.asarray(counts, dtype=np.float64).ravel()
    if np.any(counts < 0) or np.any(counts != np.round(counts)):
        raise ValueError("counts must be non-negative integers")
    return counts[counts > 0]


def plugin_entropy(observed: np.ndarray) -> float:
    """``log n − (1/n) Σ c log c`` over the positive counts ``observed``; 0 when n = 0."""
    n = observed.sum()
    if n == 0:
        return 0.0
    return float(max(np.log(n) - np.dot(observed, np.log(observed)) / n, 0.0))


@ESTIMATORS.register(
    "plugin",
    paper="Paninski (2003), Estimation of Entropy and Mutual Information",
    url="https://doi.org/10.1162/089976603321780272",
)
@dataclasses.dataclass(frozen=True)
class Plugin(DiscreteEstimator):
    """The entropy of the empirical distribution: ``Ĥ = −Σ_i p̂_i log p̂_i``, ``p̂_i = c_i / n``.

    Computed as ``log n − (1/n) Σ_i c_i log c_i`` over the observed symbols (nats); unobserved
    symbols and ``alphabet_size`` play no part. ``Ĥ ≤ log m`` for m observed symbols, and it is
    biased downward: E Ĥ ≤ H (Jensen, H being concave and p̂ unbiased), by about (K − 1)/(2n)
    when n ≫ K (Miller 1955; Paninski 2003). n = 0 and a point mass (every sample one symbol,
    n = 1 included) give 0; rounding below 0 is clipped to 0.
    """

    def from_counts(self, counts: np.ndarray, alphabet_size: int | None) -> float:
        return plugin_entropy(observed_counts(counts))
