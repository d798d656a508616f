"""Percentile bootstrap confidence intervals, resampling examples (clusters) with replacement.

For a statistic θ of a table whose rows are grouped by example (several seeds or samples of
the same example form one cluster), draw ``n_resamples`` resamples of the clusters, compute
θ on each, and report the (α/2, 1 − α/2) percentiles (α = 1 − level). Resampling whole
clusters keeps paired rows together, as the same example under several seeds is not
independent evidence.
"""

from __future__ import annotations

from typing import Callable, Sequence

import numpy as np


def resample_indices(clusters: Sequence, n_resamples: int, seed: int) -> list[np.ndarray]:
    """Row indices of each resample: clusters drawn with replacement, all rows of a drawn cluster kept."""
    clusters = np.asarray(clusters)
    unique, inverse = np.unique(clusters, return_inverse=True)
    members = [np.flatnonzero(inverse == k) for k in range(len(unique))]
    rng = np.random.default_rng(seed)
    draws = rng.integers(0, len(unique), size=(n_resamples, len(unique)))
    return [np.concatenate([members[k] for k in draw]) for draw in draws]


def bootstrap_ci(
    statistic: Callable[..., float],
    *arrays: Sequence,
    clusters: Sequence | None = None,
    n_resamples: int = 1000,
    level: float = 0.95,
    seed: int = 0,
) -> tuple[float, float]:
    """(low, high) percentile CI of ``statistic(*arrays)``; NaN resamples are dropped."""
    return percentile_interval(bootstrap_values(statistic, *arrays, clusters=clusters, n_resamples=n_resamples,
                                                seed=seed), level)


def bootstrap_values(
    statistic: Callable[..., float], *arrays: Sequence, clusters: Sequence | None = None,
    n_resamples: int = 1000, seed: int = 0,
) -> np.ndarray:
    """``statistic`` on each resample (:func:`resample_indices`; one cluster per row by default)."""
    arrays = [np.asarray(a) for a in arrays]
    clusters = np.arange(len(arrays[0])) if clusters is None else clusters
    return np.array([statistic(*(a[idx] for a in arrays)) for idx in resample_indices(clusters, n_resamples, seed)],
                    dtype=float)


def percentile_interval(values: np.ndarray, level: float = 0.95) -> tuple[float, float]:
    """The (α/2, 1 − α/2) percentiles of ``values`` without its NaNs (α = 1 − level); NaN if none is left."""
    values = values[~np.isnan(values)]
    if len(values) == 0:
        return float("nan"), float("nan")
    alpha = 1 - level
    low, high = np.percentile(values, [100 * alpha / 2, 100 * (1 - alpha / 2)])
    return float(low), float(high)
