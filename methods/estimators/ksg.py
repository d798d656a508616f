"""Kraskov–Stögbauer–Grassberger k-nearest-neighbour mutual information (algorithm 1)."""

from __future__ import annotations

import dataclasses
from typing import ClassVar

import numpy as np
from scipy.spatial import cKDTree
from scipy.special import digamma

from entropy_bench.methods.estimators.base import Estimator
from entropy_bench.methods.records import SampleSet
from entropy_bench.methods.registry import ESTIMATORS, require


def joint_radii(x: np.ndarray, y: np.ndarray, k: int) -> np.ndarray:
    """ε_i [n]: max-norm distance from z_i = (x_i, y_i) to its k-th nearest other joint sample."""
    z = np.hstack([x, y])
    distances, _ = cKDTree(z).query(z, k=[k + 1], p=np.inf)  # the first result is z_i itself
    return distances[:, 0]


def strict_counts(v: np.ndarray, radius: np.ndarray) -> np.ndarray:
    """#{j ≠ i : ‖v_j − v_i‖_∞ < radius_i} [n] (strictly inside; 0 where radius_i = 0)."""
    within = cKDTree(v).query_ball_point(v, np.nextafter(radius, 0), p=np.inf, return_length=True)
    return np.where(radius > 0, within - 1, 0)  # the ball of radius < ε_i holds v_i itself


def ksg_mutual_information(x: np.ndarray, y: np.ndarray, k: int) -> float:
    """Î = ψ(k) + ψ(n) − ⟨ψ(n_x + 1) + ψ(n_y + 1)⟩ (nats; may be negative)."""
    eps = joint_radii(x, y, k)
    nx, ny = strict_counts(x, eps), strict_counts(y, eps)
    return float(digamma(k) + digamma(len(x)) - np.mean(digamma(nx + 1) + digamma(ny + 1)))


@ESTIMATORS.register(
    "ksg",
    paper="Kraskov, Stögbauer & Grassberger (2004), Estimating mutual information",
    url="https://arxiv.org/abs/cond-mat/0305641",
)
@dataclasses.dataclass(frozen=True)
class KSG(Estimator):
    """Mutual information I(X; Y) from k-nearest-neighbour counts, KSG algorithm 1 (max-norm).

    For joint samples z_i = (x_i, y_i), with ‖z‖ = max(‖x‖_∞, ‖y‖_∞), let ε_i be the distance
    from z_i to its k-th nearest other joint sample, and n_x(i) (n_y(i)) the number of other
    samples with ‖x_j − x_i‖_∞ < ε_i (‖y_j − y_i‖_∞ < ε_i), strictly. Then (KSG eq. 8)

        Î = ψ(k) + ψ(n) − (1/n) Σ_i [ψ(n_x(i) + 1) + ψ(n_y(i) + 1)]

    in nats. Negative estimates are returned as they are (under independence Î scatters around
    0), and the data are used as given: with the max-norm, Î changes when x or y is rescaled,
    so standardise beforehand if the variables' units are arbitrary. Exact ties (ε_i = 0, a
    sample with k copies) give n_x(i) = n_y(i) = 0 and bias Î upwards; jitter rounded data.

    **scikit-learn.** ``mutual_info_regression(x, y, n_neighbors=k)`` is this algorithm for 1-D
    x and y (its ``_compute_mi_cc``: the same ε_i, counts ≤ nextafter(ε_i, 0), the same
    formula), with three differences: it first divides each variable by its standard deviation
    (``scale(with_mean=False)``), then adds 1e-10 · max(1, mean |·|) standard-normal noise (from
    ``random_state``, x's first, then y's), and it clips negative estimates to 0. On the same
    preprocessed samples the two agree to ~1e-15 wherever its value is positive (tests).
    """

    quantity: ClassVar[str] = "mutual_information"
    sample_kind: ClassVar[str] = "paired"

    k: int = 3

    def __post_init__(self):
        require(isinstance(self.k, int) and self.k >= 1, self.name, "k", f"must be an integer >= 1, got {self.k!r}")

    def estimate(self, samples: SampleSet) -> float:
        n = samples.n
        if n <= self.k:
            raise ValueError(f"{self.id} needs more than k = {self.k} samples, got {n}")
        x = np.asarray(samples.x, dtype=np.float64).reshape(n, -1)
        y = np.asarray(samples.y, dtype=np.float64).reshape(n, -1)
        return ksg_mutual_information(x, y, self.k)
