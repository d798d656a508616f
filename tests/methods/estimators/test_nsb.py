"""NSB against the peer package ndd, a brute-force integral, and its prior's known values.

``data/ndd_reference.json`` holds ndd 1.10.6's estimates on 22 fixed count vectors (written by
``make_ndd_reference.py``, which runs where ndd is installed; the project's venv cannot build it).
ndd integrates the posterior of log α over a window around its mode only (see
:class:`~entropy_bench.methods.estimators.nsb.NSB`); the tests integrate this module's posterior
over ndd's window, rebuilt here, and require ndd's numbers to 1e-6, then bound the full
estimate's distance from ndd by the posterior mass outside the window.
"""

from __future__ import annotations

import functools
import json
import time
from pathlib import Path

import numpy as np
import pytest
from scipy import integrate, optimize
from scipy.special import digamma, roots_legendre

from entropy_bench.methods.estimators import nsb
from entropy_bench.methods.records import SampleSet
from entropy_bench.methods.registry import ESTIMATORS

REFERENCE = json.loads((Path(__file__).parent / "data" / "ndd_reference.json").read_text())
CASES = REFERENCE["cases"]


def expand(case: dict) -> np.ndarray:
    """The nonzero counts of a reference case, from its histogram."""
    return np.repeat(case["counts"]["values"], case["counts"]["symbols"])


def quad(f, a: float, b: float, points=()) -> float:
    """∫_a^b f, by tanh-sinh on the pieces between ``points`` (vectorised: f takes arrays)."""
    edges = np.array([a, *sorted(p for p in points if a < p < b), b])
    return float(integrate.tanhsinh(f, edges[:-1], edges[1:], rtol=1e-10, atol=1e-16).integral.sum())


@functools.lru_cache(maxsize=None)
def ndd_window(index: int) -> tuple[float, float]:
    """This module's posterior mean of H over ndd 1.10.6's window, and the posterior mass outside it.

    ndd searches α in [1e-8/K, 1e8/K]; α̂ maximises p(α | counts) (no Jacobian), s² is the mean of
    (log α − log α̂)² under the posterior of log α there, and the window is log α̂ ± 4 s, clipped.
    """
    case = CASES[index]
    k = case["K"]
    values, symbols = nsb.count_histogram(expand(case).astype(float), k)

    def log_density(x):  # of x = log α, Jacobian included
        return nsb.log_posterior(x, values, symbols, k)

    lo, hi = np.log(1e-8 / k), np.log(1e8 / k)
    grid = np.linspace(lo, hi, 2001)
    best = grid[np.argmax(log_density(grid) - grid)]
    found = optimize.minimize_scalar(
        lambda x: -float(log_density(np.array(x)) - x), bounds=(best - 0.1, best + 0.1), method="bounded",
        options={"xatol": 1e-12},
    )
    centre = float(found.x)
    peak = float(log_density(np.array(centre)))

    def weight(x):
        return np.exp(log_density(x) - peak)

    def weighted_entropy(x):
        return weight(x) * nsb.entropy_given_alpha(x, values, symbols, k)

    cuts = [centre + sign * d for sign in (-1, 1) for d in (0.003, 0.03, 0.3, 3, 30)] + [centre]
    spread = np.sqrt(quad(lambda x: (x - centre) ** 2 * weight(x), lo, hi, cuts) / quad(weight, lo, hi, cuts))
    a, b = max(centre - 4 * spread, lo), min(centre + 4 * spread, hi)
    inside = quad(weight, a, b, cuts)
    mean = quad(weighted_entropy, a, b, cuts) / inside
    total = quad(weight, centre - 200, centre + 200, cuts)  # the posterior is negligible beyond
    return mean, 1 - inside / total


@pytest.mark.parametrize("index", range(len(CASES)), ids=[c["label"] for c in CASES])
def test_nsb_over_ndds_window_reproduces_ndd(index):
    case = CASES[index]
    window_mean, _ = ndd_window(index)
    assert window_mean == pytest.approx(case["nsb"], rel=1e-6)


@pytest.mark.parametrize("index", range(len(CASES)), ids=[c["label"] for c in CASES])
def test_nsb_differs_from_ndd_by_at_most_the_mass_ndd_drops(index):
    """Full mean F = (1 − q) W + q T with W, T in [0, log K], so |F − W| ≤ q log K."""
    case = CASES[index]
    ours = nsb.NSB().from_counts(expand(case), case["K"])
    window_mean, dropped = ndd_window(index)
    assert abs(ours - window_mean) <= dropped * np.log(case["K"]) + 1e-9
    assert abs(ours - case["nsb"]) <= dropped * np.log(case["K"]) + 1e-6 * case["nsb"]
    assert ours == pytest.approx(case["nsb"], rel=1e-3)  # the largest gap seen is 7.4e-4
    assert abs(ours - case["nsb"]) <= 0.01 * case["nsb_std"]  # and at most 4.4e-3 of ndd's posterior sd


def test_the_reference_covers_the_undersampled_and_the_well_sampled():
    ratios = [c["n"] / c["K"] for c in CASES]
    assert min(ratios) <= 1e-3 and max(ratios) >= 1e3
    assert {c["K"] for c in CASES} == {10, 100, 1000, 10000}
    assert REFERENCE["ndd_version"] == "1.10.6"


@pytest.mark.parametrize("case", CASES, ids=[c["label"] for c in CASES])
def test_plugin_miller_madow_and_grassberger_match_ndd(case):
    counts, n = expand(case), case["n"]
    assert ESTIMATORS.build("plugin").from_counts(counts, None) == pytest.approx(case["plugin"], rel=1e-12)
    assert ESTIMATORS.build("miller_madow").from_counts(counts, None) == pytest.approx(case["miller_madow"], rel=1e-12)
    # ndd 1.10.6's Grassberger adds the sum it should subtract: it returns log n + (1/n) Σ c G(c)
    # where Grassberger (2003) has log n − (1/n) Σ c G(c); its G is the same (by a recursion).
    assert ESTIMATORS.build("grassberger").from_counts(counts, None) == pytest.approx(2 * np.log(n) - case["grassberger"], rel=1e-12)


# --- an independent brute-force integral ------------------------------------------------------


LEGENDRE = roots_legendre(3000)


def alpha_of_xi(xi: np.ndarray, k: int) -> np.ndarray:
    """Invert the prior expected entropy ξ(α) = ψ(Kα + 1) − ψ(α + 1) (increasing) by bisection on log α."""
    lo, hi = np.full_like(xi, -80.0), np.full_like(xi, 80.0)
    for _ in range(200):
        mid = (lo + hi) / 2
        below = digamma(k * np.exp(mid) + 1) - digamma(np.exp(mid) + 1) < xi
        lo, hi = np.where(below, mid, lo), np.where(below, hi, mid)
    return np.exp((lo + hi) / 2)


def brute_force_nsb(counts: np.ndarray, k: int) -> float:
    """NSB as the paper states it: a uniform prior on ξ ∈ [0, log K], integrated by Gauss–Legendre in ξ.

    Nothing is shared with the module: α(ξ) by bisection, the evidence as explicit sums of logs
    over the full count vector, ``log Γ(a + c)/Γ(a) = Σ_{j<c} log(a + j)``.
    """
    c = np.concatenate([counts, np.zeros(k - counts.size)]).astype(float)
    n = int(c.sum())
    t, w = LEGENDRE
    xi = (t + 1) / 2 * np.log(k)
    a = alpha_of_xi(xi, k)[:, None]
    j = np.arange(int(c.max()))
    above = (c[None, :] > j[:, None]).sum(axis=1)  # symbols with a count above j
    evidence = (above * np.log(a + j)).sum(axis=1) - np.log(k * a + np.arange(n)).sum(axis=1)
    weight = w * np.exp(evidence - evidence.max())
    h = digamma(n + k * a[:, 0] + 1) - ((c + a) * digamma(c + a + 1)).sum(axis=1) / (n + k * a[:, 0])
    return float(np.dot(weight, h) / weight.sum())


@pytest.mark.parametrize(
    "k, n, concentration, seed", [(20, 50, 1.0, 0), (200, 30, 0.3, 1), (50, 500, 0.2, 2), (5, 2000, 2.0, 3), (1000, 20, 1.0, 4)]
)
def test_nsb_equals_a_brute_force_integral_over_the_prior_expected_entropy(k, n, concentration, seed):
    rng = np.random.default_rng(seed)
    counts = rng.multinomial(n, rng.dirichlet(np.full(k, concentration)))
    assert nsb.NSB().from_counts(counts, k) == pytest.approx(brute_force_nsb(counts[counts > 0], k), rel=1e-11)


def test_nsb_of_exactly_uniform_counts_equals_the_brute_force_integral():
    """Equal counts keep the posterior on large α, where the module switches to its asymptotic series."""
    counts = np.full(10, 300)
    assert nsb.NSB().from_counts(counts, 10) == pytest.approx(brute_force_nsb(counts, 10), rel=1e-11)


# --- the prior's known values ------------------------------------------------------------------


@pytest.mark.parametrize("k", [2, 10, 1000, 10**6])
def test_no_samples_give_the_prior_mean_half_log_k(k):
    """p(α) ∝ dξ/dα makes ξ uniform on [0, log K], and E[H | α] = ξ(α) without data."""
    assert nsb.NSB().from_counts(np.zeros(3), k) == pytest.approx(np.log(k) / 2, rel=1e-9)


@pytest.mark.parametrize("k", [2, 10, 10**4])
def test_one_sample_carries_no_information_about_alpha(k):
    """p(one sample | α) = Γ(Kα)Γ(1 + α) / (Γ(α)Γ(1 + Kα)) = 1/K for every α: the prior mean, log K / 2."""
    counts = np.zeros(k, dtype=int)
    counts[k // 2] = 1
    assert nsb.NSB().from_counts(counts, k) == pytest.approx(np.log(k) / 2, rel=1e-9)


def test_a_point_mass_falls_towards_zero_with_n():
    values = [nsb.NSB().from_counts(np.array([n, 0, 0]), 10) for n in (2, 10, 100, 1000, 100_000)]
    assert all(a > b > 0 for a, b in zip(values, values[1:]))
    assert values[-1] < 1e-4


def test_a_single_symbol_alphabet_gives_zero():
    assert nsb.NSB().from_counts(np.array([5]), 1) == 0.0
    assert nsb.NSB().from_counts(np.array([0]), 1) == 0.0


def test_uniform_counts_with_n_much_larger_than_k_give_log_k():
    value = nsb.NSB().from_counts(np.full(10, 10_000), 10)
    assert value <= np.log(10) and np.log(10) - value < 10 / (2 * 100_000)


# --- the alphabet size ----------------------------------------------------------------------


def test_the_alphabet_size_comes_from_the_samples_then_the_parameter():
    x = np.array([0, 1, 1, 3])
    with_size = SampleSet(kind="discrete", x=x, alphabet_size=50)
    without = SampleSet(kind="discrete", x=x)
    counts = np.bincount(x)
    assert nsb.NSB()(with_size) == pytest.approx(nsb.NSB().from_counts(counts, 50), rel=1e-12)
    assert nsb.NSB(alphabet_size=50)(without) == pytest.approx(nsb.NSB().from_counts(counts, 50), rel=1e-12)
    assert nsb.NSB(alphabet_size=7)(with_size) == pytest.approx(nsb.NSB().from_counts(counts, 50), rel=1e-12)
    with pytest.raises(ValueError, match="alphabet size"):
        nsb.NSB()(without)


def test_more_observed_symbols_than_the_alphabet_size_raise():
    with pytest.raises(ValueError, match="more than the alphabet size"):
        nsb.NSB().from_counts(np.array([1, 2, 3]), 2)


def test_large_alphabets_and_samples_take_milliseconds():
    rng = np.random.default_rng(0)
    p = 1.0 / np.arange(1, 10_001)
    counts = rng.multinomial(100_000, p / p.sum())
    nsb.NSB().from_counts(counts, 10_000)  # warm-up
    start = time.perf_counter()
    value = nsb.NSB().from_counts(counts, 10_000)
    assert time.perf_counter() - start < 0.5
    assert 0 < value < np.log(10_000)
    assert nsb.NSB().from_counts(np.array([3, 1, 1]), 10**12) > 0  # cost is per distinct count, not per symbol


# --- the cancellation-free pieces, against 50-digit arithmetic ----------------------------------

mpmath = pytest.importorskip("mpmath")


@pytest.mark.parametrize("a", [1e-12, 0.37, 99.9, 100.0, 100.1, 1e3, 1e6, 1e12, 1e200])
@pytest.mark.parametrize("c", [0.0, 1.0, 7.0, 1e5])
def test_log_rising_matches_high_precision(a, c):
    with mpmath.workdps(250):  # 1e200 + c must be exact
        expected = float(mpmath.loggamma(mpmath.mpf(a) + c) - mpmath.loggamma(mpmath.mpf(a)))
    assert float(nsb.log_rising(np.array(a), np.array(c))) == pytest.approx(expected, rel=1e-12, abs=1e-13)


@pytest.mark.parametrize("alpha", [1e-200, 1e-10, 0.01, 1.0, 99.0, 100.0, 101.0, 1e4, 1e10, 1e100])
@pytest.mark.parametrize("k", [2, 10, 10**6])
def test_log_prior_matches_high_precision(alpha, k):
    with mpmath.workdps(250):
        a = mpmath.mpf(alpha)
        expected = float(mpmath.log(k * mpmath.psi(1, k * a + 1) - mpmath.psi(1, a + 1)))
    assert float(nsb.log_prior(np.array(alpha), k)) == pytest.approx(expected, rel=1e-12, abs=1e-12)
