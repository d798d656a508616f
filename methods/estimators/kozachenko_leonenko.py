"""Kozachenko–Leonenko k-nearest-neighbour differential entropy."""

from __future__ import annotations

import dataclasses
import math
from typing import ClassVar

import numpy as np
from scipy.spatial import cKDTree
from scipy.special import digamma, gammaln

from entropy_bench.methods.estimators.base import Estimator
from entropy_bench.methods.records import SampleSet
from entropy_bench.methods.registry import ESTIMATORS, require


def log_unit_ball_volume(d: int) -> float:
    """log V_d, V_d = π^{d/2} / Γ(d/2 + 1), the volume of the unit Euclidean ball in R^d."""
    return 0.5 * d * math.log(math.pi) - float(gammaln(0.5 * d + 1))


def kth_neighbour_distances(x: np.ndarray, k: int) -> np.ndarray:
    """ε_i [n]: the Euclidean distance from x_i to its k-th nearest other sample.

    The tree's query includes x_i itself at distance 0, so the k-th other sample is its
    (k+1)-th result; this holds with duplicates too, since only the sorted distances are read.
    """
    distances, _ = cKDTree(x).query(x, k=[k + 1], p=2)
    return distances[:, 0]


def kl_entropy(x: np.ndarray, k: int) -> float:
    """Ĥ = ψ(n) − ψ(k) + log V_d + (d/n) Σ_i log ε_i (nats); −∞ if some ε_i is 0."""
    n, d = x.shape
    eps = kth_neighbour_distances(x, k)
    if np.any(eps == 0):
        return float("-inf")
    return float(digamma(n) - digamma(k) + log_unit_ball_volume(d) + d * np.mean(np.log(eps)))


@ESTIMATORS.register(
    "kozachenko_leonenko",
    paper="Kozachenko & Leonenko (1987), Sample estimate of the entropy of a random vector; "
    "k-NN form of Kraskov, Stögbauer & Grassberger (2004), Estimating mutual information, eq. 20",
    url="https://arxiv.org/abs/cond-mat/0305641",
)
@dataclasses.dataclass(frozen=True)
class KozachenkoLeonenko(Estimator):
    """Differential entropy from the distances to the k-th nearest neighbour (Euclidean).

    For samples x_1 … x_n in R^d, with ε_i the distance from x_i to its k-th nearest other
    sample and V_d = π^{d/2} / Γ(d/2 + 1) the volume of the unit ball:

        Ĥ = ψ(n) − ψ(k) + log V_d + (d/n) Σ_i log ε_i

    (Kraskov, Stögbauer & Grassberger 2004, eq. 20, written with the radius ε_i instead of twice
    it and the unit-radius ball instead of the unit-diameter one; k = 1 is Kozachenko &
    Leonenko's original). It is exactly equivariant: Ĥ(a x) = Ĥ(x) + d log|a|, and translation
    invariant. The neighbours come from one ``scipy.spatial.cKDTree`` on one thread: O(n log n) for
    small d (n = 10⁵ takes ~0.1 s at d = 1, ~1 s at d = 5, ~5 s at d = 8); in high dimension the
    tree degrades towards O(n²).

    **Duplicates.** A sample with at least k exact copies has ε_i = 0, so log ε_i = −∞ and the
    estimate is −∞ — the right value for a distribution with an atom, whose differential
    entropy is −∞, but not for a continuous one whose samples were rounded. Fewer than k copies
    only shorten ε_i (a downward bias). Jitter rounded data by less than its resolution first.
    """

    quantity: ClassVar[str] = "differential_entropy"
    sample_kind: ClassVar[str] = "continuous"

    k: int = 3

    def __post_init__(self):
        require(isinstance(self.k, int) and self.k >= 1, self.name, "k", f"must be an integer >= 1, got {self.k!r}")

    def estimate(self, samples: SampleSet) -> float:
        x = np.asarray(samples.x, dtype=np.float64).reshape(samples.n, -1)
        if samples.n <= self.k:
            raise ValueError(f"{self.id} needs more than k = {self.k} samples, got {samples.n}")
        return kl_entropy(x, self.k)
