"""The Miller–Madow bias-corrected plug-in estimate."""

from __future__ import annotations

import dataclasses

import numpy as np

from entropy_bench.methods.estimators.base import DiscreteEstimator
from entropy_bench.methods.estimators.plugin import observed_counts, plugin_entropy
from entropy_bench.methods.registry import ESTIMATORS


@ESTIMATORS.register(
    "miller_madow",
    paper="Miller (1955), Note on the Bias of Information Estimates (in Quastler, ed., Information Theory in Psychology)",
    url=None,
)
@dataclasses.dataclass(frozen=True)
class MillerMadow(DiscreteEstimator):
    """The plug-in estimate plus its first-order bias: ``Ĥ_MM = Ĥ_plugin + (m − 1) / (2n)``.

    The plug-in is biased by −(K − 1)/(2n) + O(1/n²) for a distribution on K symbols; K is
    replaced by m, the number of symbols observed (nonzero counts), so unobserved symbols and
    ``alphabet_size`` play no part (nats). n = 0 gives 0; a point mass (m = 1, n = 1 included)
    gives 0, the correction vanishing with m − 1.
    """

    def from_counts(self, counts: np.ndarray, alphabet_size: int | None) -> float:
        observed = observed_counts(counts)
        n, m = observed.sum(), observed.size
        if n == 0:
            return 0.0
        return plugin_entropy(observed) + (m - 1) / (2 * n)
