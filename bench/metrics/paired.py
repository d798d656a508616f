"""Paired tests: is the difference between two methods evaluated on the same examples real?

Each side is a tuple of per-example arrays, aligned by example (row i of every array is
example i): ``(correct_a,)`` against ``(correct_b,)`` for two decoders' accuracy,
``(scores_a, correct)`` against ``(scores_b, correct)`` for the AUROC of two uncertainty
measures on the same answers. The difference is δ = θ(a) − θ(b) for a statistic θ
(``np.mean``, ``metrics.uq.auroc``). Both tests keep the pairs: what the two sides share (the
example's difficulty) cancels in δ.

- :func:`paired_bootstrap`: resample example indices with replacement, the same indices for
  both sides; δ*_r on each resample; the 95 % CI is the (2.5, 97.5) percentiles of δ*
  (``metrics.bootstrap``); the two-sided p-value is ``min(1, 2 · min(#{δ* ≤ 0}, #{δ* ≥ 0}) / R)``
  over the R finite δ*, the smallest α at which the equal-tailed (1 − α) percentile CI
  excludes 0 (so p < 0.05 exactly when the 95 % CI excludes 0, up to the percentiles'
  interpolation). The CI is scipy's ``bootstrap(..., paired=True, method="percentile")`` drawn
  from the same seed.
- :func:`paired_permutation`: under H₀ (the two methods are exchangeable on every example) the
  sides of each pair may be swapped. δ_s is δ with the pairs in the set s swapped; the two-sided
  p-value is ``#{s : |δ_s| ≥ |δ|} / 2ⁿ`` over all 2ⁿ swap sets (exact, n ≤ ``max_exact``), or
  ``(1 + #{r : |δ_r| ≥ |δ|}) / (R + 1)`` over R random swap sets (Monte Carlo, Phipson & Smyth
  2010). For a mean this is the sign-flip test of the differences d_i = a_i − b_i (for 0/1
  correctness: the exact McNemar test). The exact p-value is scipy's
  ``permutation_test(..., permutation_type="samples")``.
"""

from __future__ import annotations

from typing import Callable, NamedTuple, Sequence

import numpy as np
from numpy.typing import ArrayLike

from entropy_bench.metrics.bootstrap import bootstrap_values, percentile_interval

Side = Sequence[ArrayLike]


class PairedBootstrap(NamedTuple):
    delta: float
    ci_low: float
    ci_high: float
    p_value: float


class PairedPermutation(NamedTuple):
    delta: float
    p_value: float
    exact: bool


def describe_bootstrap(n_resamples: int, level: float = 0.95) -> str:
    """How a table names :func:`paired_bootstrap`: ``paired bootstrap over the same examples, 1000 resamples, 95 %``."""
    return f"paired bootstrap over the same examples, {n_resamples} resamples, {100 * level:g} %"


def _sides(a: Side, b: Side) -> tuple[list[np.ndarray], list[np.ndarray]]:
    a, b = [np.asarray(x) for x in a], [np.asarray(x) for x in b]
    if len(a) != len(b) or len({len(x) for x in a + b}) != 1:
        raise ValueError(f"the sides must hold as many arrays of one length each: {[len(x) for x in a]} vs "
                         f"{[len(x) for x in b]}")
    return a, b


def _difference(statistic: Callable[..., float], k: int) -> Callable[..., float]:
    """δ as a function of the arrays of both sides, a's ``k`` first."""
    return lambda *arrays: float(statistic(*arrays[:k]) - statistic(*arrays[k:]))


def paired_bootstrap(
    statistic: Callable[..., float], a: Side, b: Side, *, n_resamples: int = 1000, level: float = 0.95, seed: int = 0
) -> PairedBootstrap:
    """δ = θ(a) − θ(b), its percentile CI and two-sided p-value over resampled examples (module docstring)."""
    a, b = _sides(a, b)
    difference = _difference(statistic, len(a))
    draws = bootstrap_values(difference, *a, *b, n_resamples=n_resamples, seed=seed)
    low, high = percentile_interval(draws, level)
    draws = draws[~np.isnan(draws)]
    p = min(1.0, 2 * min(np.sum(draws <= 0), np.sum(draws >= 0)) / len(draws)) if len(draws) else float("nan")
    return PairedBootstrap(difference(*a, *b), low, high, float(p))


def paired_permutation(
    statistic: Callable[..., float], a: Side, b: Side, *, n_resamples: int = 9999, max_exact: int = 16, seed: int = 0
) -> PairedPermutation:
    """δ = θ(a) − θ(b) and its two-sided swap-test p-value: exact for n ≤ ``max_exact`` examples
    (2ⁿ swap sets), else ``n_resamples`` random swap sets drawn with ``seed`` (module docstring)."""
    a, b = _sides(a, b)
    difference = _difference(statistic, len(a))
    delta, n = difference(*a, *b), len(a[0])
    exact = n <= max_exact
    if np.isnan(delta):
        return PairedPermutation(delta, float("nan"), exact)
    if exact:
        swaps = (np.arange(2**n)[:, None] >> np.arange(n)) & 1 == 1
    else:
        swaps = np.random.default_rng(seed).integers(0, 2, size=(n_resamples, n)) == 1
    null = np.array([difference(*(np.where(s, y, x) for x, y in zip(a + b, b + a))) for s in swaps])
    extreme = int(np.sum(np.abs(null) >= abs(delta) - 1e-12 * max(1.0, abs(delta))))
    p = extreme / len(swaps) if exact else (1 + extreme) / (len(swaps) + 1)
    return PairedPermutation(delta, float(p), exact)
