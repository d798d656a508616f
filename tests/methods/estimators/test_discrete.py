"""The discrete Shannon-entropy estimators against textbook cases and independent references.

NSB's own checks (the peer package ndd, the prior, brute-force integration) are in
``test_nsb.py``; hypothesis properties in ``test_discrete_properties.py``.
"""

from __future__ import annotations

import numpy as np
import pytest
from scipy import integrate, stats
from scipy.special import digamma

from entropy_bench.methods.estimators.base import DiscreteEstimator
from entropy_bench.methods.estimators.grassberger import grassberger_g
from entropy_bench.methods.records import SampleSet
from entropy_bench.methods.registry import ESTIMATORS, InvalidParameterError

NAMES = ["plugin", "miller_madow", "jackknife", "chao_shen", "nsb", "grassberger"]
BIAS_CORRECTED = ["miller_madow", "jackknife", "chao_shen", "nsb", "grassberger"]


def estimate(name: str, counts, alphabet_size: int | None = None) -> float:
    counts = np.asarray(counts)
    size = alphabet_size if alphabet_size is not None else (len(counts) if name == "nsb" else None)
    return ESTIMATORS.build(name).from_counts(counts, size)


def zipf(k: int) -> np.ndarray:
    p = 1.0 / np.arange(1, k + 1)
    return p / p.sum()


def shannon(p: np.ndarray) -> float:
    return float(stats.entropy(p))


# --- registry entries ---------------------------------------------------------------------------


@pytest.mark.parametrize("name", NAMES)
def test_registered_as_a_discrete_entropy_estimator_citing_its_paper(name):
    entry = ESTIMATORS.get(name)
    assert issubclass(entry.factory, DiscreteEstimator)
    assert entry.factory.quantity == "entropy" and entry.factory.sample_kind == "discrete"
    assert any(str(year) in entry.paper for year in range(1950, 2030)), entry.paper
    assert "(" in entry.paper and ")," in entry.paper  # "Authors (year), Title"
    if name != "miller_madow":  # a 1955 book chapter, with no stable address
        assert entry.url and entry.url.startswith("https://")
    doc = entry.factory.__doc__
    assert "nats" in doc.lower() or "Nats" in doc
    assert "n = 0" in doc


@pytest.mark.parametrize("name", NAMES)
def test_reads_a_sample_set(name):
    x = np.array([0, 1, 1, 2, 2, 2, 0, 3])
    samples = SampleSet(kind="discrete", x=x, alphabet_size=6)
    counts = np.bincount(x, minlength=6)
    assert ESTIMATORS.build(name)(samples) == pytest.approx(estimate(name, counts, 6), rel=1e-12)


# --- point mass and empty samples -------------------------------------------------------------


@pytest.mark.parametrize("name", ["plugin", "miller_madow", "jackknife", "chao_shen"])
@pytest.mark.parametrize("n", [1, 2, 3, 10, 1000])
def test_a_point_mass_gives_zero(name, n):
    assert estimate(name, [0, n, 0, 0], 4) == pytest.approx(0.0, abs=1e-12)


@pytest.mark.parametrize("n", [1, 2, 3, 4, 7, 10, 11, 1000, 1001])
def test_grassberger_of_a_point_mass_is_log_n_minus_g_n(n):
    expected = np.log(n) - grassberger_g(np.array([float(n)]))[0]
    assert estimate("grassberger", [n]) == pytest.approx(expected, rel=1e-13, abs=1e-15)
    if n == 1:
        assert estimate("grassberger", [1]) == pytest.approx(np.euler_gamma + np.log(2), rel=1e-13)
    bound = 1.5 / n if n % 2 else 1.0 / n**2  # O(1/n) for odd n, O(1/n²) for even n
    assert abs(estimate("grassberger", [n])) <= bound


@pytest.mark.parametrize("name", ["plugin", "miller_madow", "jackknife", "chao_shen", "grassberger"])
def test_no_samples_give_zero(name):
    assert estimate(name, [0, 0, 0]) == 0.0
    assert estimate(name, []) == 0.0


@pytest.mark.parametrize("name", NAMES)
def test_negative_or_fractional_counts_raise(name):
    with pytest.raises(ValueError, match="non-negative integers"):
        estimate(name, [3, -1, 2], 3)
    with pytest.raises(ValueError, match="non-negative integers"):
        estimate(name, [3, 0.5, 2], 3)


# --- uniform, n ≫ K -----------------------------------------------------------------------------


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("k, seed", [(10, 0), (10, 1), (50, 2)])
def test_uniform_with_n_much_larger_than_k_gives_log_k(name, k, seed):
    """For uniform p the plug-in is log K − χ²_{K−1}/(2n) + O(n⁻²) (its first-order term vanishes).

    Every estimator here moves it by at most about K/n more (Miller–Madow adds (m − 1)/(2n), the
    jackknife about the same, Grassberger about (number of odd counts)/n, Chao–Shen and NSB
    nothing of that order at n ≫ K), so it is within (χ²_{K−1} quantile 1 − 1e-6 + 2K)/(2n) of log K.
    """
    n = 200_000
    counts = np.random.default_rng(seed).multinomial(n, np.full(k, 1.0 / k))
    tolerance = (stats.chi2.ppf(1 - 1e-6, k - 1) + 2 * k) / (2 * n)
    value = estimate(name, counts, k)
    assert abs(value - np.log(k)) <= tolerance
    if name == "plugin":
        assert value <= np.log(k)


@pytest.mark.parametrize("name", ["plugin", "chao_shen"])
def test_exactly_uniform_counts_give_log_k(name):
    assert estimate(name, np.full(20, 500)) == pytest.approx(np.log(20), rel=1e-13)


# --- plug-in ------------------------------------------------------------------------------------


@pytest.mark.parametrize("seed", range(5))
def test_plugin_is_scipy_entropy_of_the_counts(seed):
    rng = np.random.default_rng(seed)
    counts = rng.multinomial(rng.integers(1, 500), rng.dirichlet(np.full(30, 0.3)))
    assert estimate("plugin", counts) == pytest.approx(stats.entropy(counts), rel=1e-13, abs=1e-15)


def test_plugin_is_biased_downward():
    """E Ĥ ≤ H (Jensen): for Zipf on K = 100 and n = 50 the bias is large, so the mean of 200 draws is below H."""
    p = zipf(100)
    rng = np.random.default_rng(7)
    values = np.array([estimate("plugin", rng.multinomial(50, p)) for _ in range(200)])
    standard_error = values.std(ddof=1) / np.sqrt(values.size)
    assert values.mean() + 5 * standard_error < shannon(p)


# --- Miller–Madow ---------------------------------------------------------------------------------


@pytest.mark.parametrize("counts", [[5, 0, 3, 1, 1], [1, 1], [100, 2, 0, 0, 7, 1], [4]])
def test_miller_madow_is_plugin_plus_m_minus_one_over_2n(counts):
    counts = np.array(counts)
    m, n = np.count_nonzero(counts), counts.sum()
    assert estimate("miller_madow", counts) == pytest.approx(stats.entropy(counts) + (m - 1) / (2 * n), rel=1e-13, abs=1e-15)


# --- jackknife ------------------------------------------------------------------------------------


def leave_one_out_jackknife(counts: np.ndarray) -> float:
    """n Ĥ − (n − 1)/n Σ_j Ĥ_{−j}, by deleting each of the n samples in turn (O(n·K))."""
    samples = np.repeat(np.arange(counts.size), counts)
    n = samples.size
    dropped = [stats.entropy(np.bincount(np.delete(samples, j), minlength=counts.size)) for j in range(n)]
    return n * stats.entropy(counts) - (n - 1) * np.mean(dropped)


@pytest.mark.parametrize("seed", range(4))
def test_jackknife_equals_an_explicit_leave_one_out_loop(seed):
    rng = np.random.default_rng(seed)
    counts = rng.multinomial(rng.integers(2, 80), rng.dirichlet(np.full(8, 0.5)))
    assert estimate("jackknife", counts) == pytest.approx(leave_one_out_jackknife(counts), rel=1e-12, abs=1e-14)


def test_jackknife_of_singletons_and_pairs():
    # two singletons: Ĥ = log 2; without either sample one symbol is left, Ĥ_{−j} = 0
    assert estimate("jackknife", [1, 1]) == pytest.approx(2 * np.log(2), rel=1e-13)
    assert estimate("jackknife", [1]) == 0.0
    assert estimate("jackknife", [2, 1, 1]) == pytest.approx(leave_one_out_jackknife(np.array([2, 1, 1])), rel=1e-13)


# --- Chao–Shen ------------------------------------------------------------------------------------


def test_chao_shen_by_hand():
    # n = 4, f1 = 2: C = 1/2, p̃ = (1/8, 1/8, 1/4); each term −p̃ log p̃ / (1 − (1 − p̃)^4)
    p = np.array([1 / 8, 1 / 8, 1 / 4])
    expected = np.sum(-p * np.log(p) / (1 - (1 - p) ** 4))
    assert estimate("chao_shen", [1, 2, 0, 1]) == pytest.approx(expected, rel=1e-13)


def test_chao_shen_all_singletons_uses_coverage_one_over_n():
    n = 6  # f1 = n is replaced by n − 1, so C = 1/n and p̃ = 1/n²
    p = 1 / n**2
    expected = n * (-p * np.log(p) / (1 - (1 - p) ** n))
    assert estimate("chao_shen", np.ones(n, dtype=int)) == pytest.approx(expected, rel=1e-13)


def test_chao_shen_without_singletons_is_horvitz_thompson_of_the_plugin():
    counts = np.array([2, 3, 5, 10])  # f1 = 0, C = 1
    p = counts / counts.sum()
    expected = np.sum(-p * np.log(p) / (1 - (1 - p) ** counts.sum()))
    assert estimate("chao_shen", counts) == pytest.approx(expected, rel=1e-13)


# --- Grassberger ----------------------------------------------------------------------------------


@pytest.mark.parametrize("c", [1, 2, 3, 4, 5, 10, 11, 50, 51])
def test_grassberger_g_matches_its_integral_form(c):
    """G(c) = ψ(c) + (−1)^c ∫₀¹ t^(c−1)/(1 + t) dt (Grassberger 2003), by quadrature."""
    integral, _ = integrate.quad(lambda t: t ** (c - 1) / (1 + t), 0, 1, epsabs=0, epsrel=1e-13)
    expected = digamma(c) + (-1) ** c * integral
    assert grassberger_g(np.array([float(c)]))[0] == pytest.approx(expected, rel=1e-12, abs=1e-14)


def test_grassberger_g_first_values():
    g = grassberger_g(np.array([1.0, 2.0, 3.0]))
    assert g[0] == pytest.approx(-np.euler_gamma - np.log(2), rel=1e-14)
    assert g[1] == pytest.approx(2 - np.euler_gamma - np.log(2), rel=1e-14)
    assert g[2] == pytest.approx(g[1], rel=1e-14)  # G(2k + 1) = G(2k)


def test_grassberger_converges_to_the_truth():
    """Zipf on K = 100, n = 10⁶: the delta-method standard deviation is sqrt(Var[log p(X)]/n)."""
    p = zipf(100)
    n = 1_000_000
    sd = np.sqrt((p * np.log(p) ** 2).sum() - shannon(p) ** 2) / np.sqrt(n)
    counts = np.random.default_rng(3).multinomial(n, p)
    assert abs(estimate("grassberger", counts) - shannon(p)) <= 6 * sd + 100 / n


def test_grassberger_removes_most_of_the_plugin_bias_when_undersampled():
    """Zipf K = 1000, n = 300 over 100 draws: |mean − H| is far below the plug-in's."""
    p = zipf(1000)
    rng = np.random.default_rng(11)
    draws = [rng.multinomial(300, p) for _ in range(100)]
    plugin = np.mean([estimate("plugin", c) for c in draws]) - shannon(p)
    grassberger = np.mean([estimate("grassberger", c) for c in draws]) - shannon(p)
    assert plugin < 0 and abs(grassberger) < 0.5 * abs(plugin)


# --- invariances ------------------------------------------------------------------------------


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("seed", range(3))
def test_permuting_the_alphabet_changes_nothing(name, seed):
    rng = np.random.default_rng(seed)
    counts = rng.multinomial(60, rng.dirichlet(np.full(12, 0.4)))
    base = estimate(name, counts, 12)
    for _ in range(3):
        assert estimate(name, rng.permutation(counts), 12) == pytest.approx(base, rel=1e-12, abs=1e-14)


@pytest.mark.parametrize("name", NAMES)
def test_zero_counts_change_nothing_given_the_alphabet_size(name):
    """Unseen symbols never enter the sample-based estimators; NSB reads K, not the array's length."""
    counts = np.array([7, 1, 3, 1, 2])
    padded = np.array([0, 7, 0, 1, 3, 0, 0, 1, 2, 0])
    assert estimate(name, padded, 40) == pytest.approx(estimate(name, counts, 40), rel=1e-12)
    if name != "nsb":
        assert estimate(name, padded) == pytest.approx(estimate(name, counts), rel=1e-12)


def test_only_nsb_reads_the_alphabet_size():
    counts = np.array([7, 1, 3, 1, 2])
    for name in NAMES:
        small, large = estimate(name, counts, 5), estimate(name, counts, 5000)
        if name == "nsb":
            assert large > small + 0.1  # a larger K, more unseen mass, a larger posterior entropy
        else:
            assert large == small


def test_estimators_do_not_mutate_their_input():
    counts = np.array([4, 0, 2, 1])
    for name in NAMES:
        estimate(name, counts, 4)
    assert counts.tolist() == [4, 0, 2, 1]


def test_nsb_parameter_validation():
    with pytest.raises(InvalidParameterError, match="alphabet_size"):
        ESTIMATORS.build("nsb", alphabet_size=0)
    with pytest.raises(InvalidParameterError, match="alphabet_size"):
        ESTIMATORS.build("nsb", alphabet_size=2.5)
    assert ESTIMATORS.build("nsb", alphabet_size=7).id == "nsb(alphabet_size=7)"
