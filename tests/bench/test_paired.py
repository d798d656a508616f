"""Paired tests (metrics.paired) against scipy and hand-computed cases.

References: ``scipy.stats.bootstrap(paired=True, method="percentile")`` draws the same example
indices from the same seed (``rng.integers(0, n, (n_resamples, n))``), so its CI must agree to
rounding; ``scipy.stats.permutation_test(permutation_type="samples")`` enumerates the same swap
sets; for 0/1 correctness the sign-flip test is the exact McNemar test, ``binomtest(b, b + c)``
over the b + c discordant examples.
"""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from entropy_bench.metrics.paired import describe_bootstrap, paired_bootstrap, paired_permutation
from entropy_bench.metrics.uq import auroc


def two_decoders(n: int, seed: int, p_a: float = 0.6, p_b: float = 0.45):
    rng = np.random.default_rng(seed)
    return (rng.random(n) < p_a).astype(float), (rng.random(n) < p_b).astype(float)


def two_measures(n: int, seed: int):
    """Scores of two uncertainty measures on the same answers (the first one informative), with ties."""
    rng = np.random.default_rng(seed)
    correct = np.resize([0.0, 1.0], n)
    good = np.round(rng.normal(size=n) + (1 - correct), 1)
    noisy = np.round(rng.normal(size=n), 1)
    return good, noisy, correct


def accuracy_difference(x, y, axis=-1):
    return np.mean(x, axis=axis) - np.mean(y, axis=axis)


# --- paired bootstrap -------------------------------------------------------------------------


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_bootstrap_ci_of_an_accuracy_difference_is_scipys_paired_percentile_bootstrap(seed):
    a, b = two_decoders(40, seed)
    ours = paired_bootstrap(np.mean, (a,), (b,), n_resamples=500, seed=seed)
    ref = stats.bootstrap((a, b), accuracy_difference, paired=True, vectorized=True, n_resamples=500,
                          method="percentile", rng=np.random.default_rng(seed))
    assert ours.delta == pytest.approx(a.mean() - b.mean(), abs=1e-15)
    assert (ours.ci_low, ours.ci_high) == pytest.approx(tuple(ref.confidence_interval), abs=1e-12)
    draws = ref.bootstrap_distribution
    p = min(1.0, 2 * min(np.mean(draws <= 1e-12), np.mean(draws >= -1e-12)))  # 0/1 means: a draw of 0 may round
    assert ours.p_value == pytest.approx(p, abs=1e-12)


def test_bootstrap_ci_of_an_auroc_difference_is_scipys_paired_percentile_bootstrap():
    good, noisy, correct = two_measures(40, seed=3)
    ours = paired_bootstrap(auroc, (good, correct), (noisy, correct), n_resamples=300, level=0.9, seed=5)
    ref = stats.bootstrap((good, noisy, correct), lambda x, y, c: auroc(x, c) - auroc(y, c), paired=True,
                          vectorized=False, n_resamples=300, confidence_level=0.9, method="percentile",
                          rng=np.random.default_rng(5))
    assert ours.delta == pytest.approx(auroc(good, correct) - auroc(noisy, correct), abs=1e-15)
    assert (ours.ci_low, ours.ci_high) == pytest.approx(tuple(ref.confidence_interval), abs=1e-12)
    draws = ref.bootstrap_distribution
    assert ours.p_value == pytest.approx(min(1.0, 2 * min(np.mean(draws <= 0), np.mean(draws >= 0))), abs=1e-12)


def test_bootstrap_p_value_of_a_large_sample_is_the_paired_t_tests():
    rng = np.random.default_rng(0)
    a = rng.normal(size=400)
    b = a + rng.normal(loc=-0.12, size=400)  # what a and b share cancels in the pairs
    ours = paired_bootstrap(np.mean, (a,), (b,), n_resamples=4000, seed=1)
    t = stats.ttest_rel(a, b)
    assert 0.005 < t.pvalue < 0.2
    assert ours.p_value == pytest.approx(t.pvalue, abs=0.02)
    ci = t.confidence_interval(0.95)
    assert (ours.ci_low, ours.ci_high) == pytest.approx((ci.low, ci.high), abs=0.01)


def test_bootstrap_hand_cases():
    # a beats b on every example by 1: every resample's difference is 1
    assert paired_bootstrap(np.mean, ([1, 1, 1, 1.0],), ([0, 0, 0, 0.0],), n_resamples=50) == (1.0, 1.0, 1.0, 0.0)
    # identical sides: every difference is 0, the CI is [0, 0] and p = 1
    assert paired_bootstrap(np.mean, ([1, 0, 1.0],), ([1, 0, 1.0],), n_resamples=50) == (0.0, 0.0, 0.0, 1.0)
    # one example: one value, whatever the resample
    assert paired_bootstrap(np.mean, ([0.0],), ([1.0],), n_resamples=20) == (-1.0, -1.0, -1.0, 0.0)


def test_bootstrap_p_value_is_below_alpha_exactly_when_the_ci_excludes_zero():
    for seed in range(12):
        a, b = two_decoders(30, seed, p_a=0.65, p_b=0.4)
        test = paired_bootstrap(np.mean, (a,), (b,), n_resamples=400, seed=seed)
        excludes = test.ci_low > 0 or test.ci_high < 0
        assert (test.p_value < 0.05) == excludes or abs(test.p_value - 0.05) <= 2 / 400, (seed, test)


def test_bootstrap_drops_resamples_where_the_statistic_is_undefined():
    """AUROC of a resample holding one class only is NaN: those resamples are left out of CI and p."""
    correct = np.array([0, 1, 1, 1, 1, 1.0])
    test = paired_bootstrap(auroc, ([0.9, 0.1, 0.2, 0.3, 0.4, 0.5], correct), ([0.1] * 6, correct), n_resamples=200)
    assert test.delta == 0.5 and test.ci_low == test.ci_high == 0.5 and test.p_value == 0.0


def test_describe_bootstrap():
    assert describe_bootstrap(1000) == "paired bootstrap over the same examples, 1000 resamples, 95 %"
    assert describe_bootstrap(200, 0.9) == "paired bootstrap over the same examples, 200 resamples, 90 %"


# --- paired permutation -----------------------------------------------------------------------


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_exact_permutation_of_an_accuracy_difference_is_scipys_and_mcnemars(seed):
    a, b = two_decoders(12, seed, p_a=0.8, p_b=0.3)
    ours = paired_permutation(np.mean, (a,), (b,))
    ref = stats.permutation_test((a, b), accuracy_difference, permutation_type="samples", vectorized=True,
                                 n_resamples=np.inf, alternative="two-sided")
    assert ours.exact and ours.delta == pytest.approx(ref.statistic, abs=1e-15)
    assert ours.p_value == pytest.approx(ref.pvalue, abs=1e-12)
    wins, losses = int(np.sum(a > b)), int(np.sum(a < b))
    mcnemar = stats.binomtest(wins, wins + losses, 0.5).pvalue if wins + losses else 1.0
    assert ours.p_value == pytest.approx(mcnemar, abs=1e-12)


@pytest.mark.parametrize("seed", [4, 5])
def test_exact_permutation_of_an_auroc_difference_is_scipys(seed):
    good, noisy, correct = two_measures(11, seed)
    ours = paired_permutation(auroc, (good, correct), (noisy, correct))
    ref = stats.permutation_test((good, noisy), lambda x, y: auroc(x, correct) - auroc(y, correct),
                                 permutation_type="samples", vectorized=False, n_resamples=np.inf)
    assert ours.exact and ours.delta == pytest.approx(ref.statistic, abs=1e-15)
    assert ours.p_value == pytest.approx(ref.pvalue, abs=1e-12)


def test_monte_carlo_permutation_beyond_max_exact_approximates_mcnemar_and_is_seeded():
    a, b = two_decoders(60, seed=0)
    ours = paired_permutation(np.mean, (a,), (b,), n_resamples=20000, seed=3)
    wins, losses = int(np.sum(a > b)), int(np.sum(a < b))
    mcnemar = stats.binomtest(wins, wins + losses, 0.5).pvalue
    assert not ours.exact and 0.01 < mcnemar < 0.5
    assert ours.p_value == pytest.approx(mcnemar, abs=0.01)
    assert ours == paired_permutation(np.mean, (a,), (b,), n_resamples=20000, seed=3)
    assert ours.p_value != paired_permutation(np.mean, (a,), (b,), n_resamples=20000, seed=4).p_value


def test_permutation_is_exact_up_to_max_exact_examples():
    a, b = two_decoders(17, seed=1)
    assert paired_permutation(np.mean, (a[:16],), (b[:16],), n_resamples=99).exact
    assert not paired_permutation(np.mean, (a,), (b,), n_resamples=99).exact
    assert paired_permutation(np.mean, (a,), (b,), max_exact=17).exact


def test_permutation_hand_cases():
    # 3 examples, a right and b wrong on each: of the 8 swap sets only "none" and "all" reach |δ| = 1
    assert paired_permutation(np.mean, ([1, 1, 1.0],), ([0, 0, 0.0],)) == (1.0, 2 / 8, True)
    # differences (2, -1, 0.5), signs flipped: sums ±1.5, ±2.5, ±3.5, ±0.5; |sum| ≥ 1.5 for 6 of 8
    assert paired_permutation(np.mean, ([2, 0, 0.5],), ([0, 1, 0.0],)).p_value == pytest.approx(6 / 8)
    assert paired_permutation(np.mean, ([1, 0, 1.0],), ([1, 0, 1.0],)) == (0.0, 1.0, True)
    # Monte Carlo never reports p = 0: (1 + #extreme) / (R + 1)
    monte_carlo = paired_permutation(np.mean, ([1.0] * 30,), ([0.0] * 30,), n_resamples=99)
    assert monte_carlo.p_value == pytest.approx(1 / 100)


def test_permutation_of_an_undefined_statistic_is_nan():
    correct = np.ones(5)  # no error to detect: AUROC is undefined
    test = paired_permutation(auroc, (np.arange(5.0), correct), (np.zeros(5), correct))
    assert np.isnan(test.delta) and np.isnan(test.p_value)


@pytest.mark.parametrize("test", [paired_bootstrap, paired_permutation])
def test_sides_must_hold_arrays_of_one_length(test):
    with pytest.raises(ValueError, match="sides"):
        test(np.mean, ([1, 0, 1],), ([1, 0],))
    with pytest.raises(ValueError, match="sides"):
        test(auroc, ([0.1, 0.2], [0, 1]), ([0.3, 0.4],))
