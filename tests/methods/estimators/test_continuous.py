"""Continuous estimators: Kozachenko–Leonenko, KSG, and the Gaussian plug-ins, against closed
forms, exact invariances and scikit-learn's KSG."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.special import digamma
from sklearn.feature_selection import mutual_info_regression
from sklearn.feature_selection._mutual_info import _compute_mi_cc
from sklearn.preprocessing import scale

from entropy_bench.methods.estimators.gaussian import Gaussian
from entropy_bench.methods.estimators.gaussian_mi import GaussianMI
from entropy_bench.methods.estimators.kozachenko_leonenko import KozachenkoLeonenko, log_unit_ball_volume
from entropy_bench.methods.estimators.ksg import KSG
from entropy_bench.methods.records import SampleSet
from entropy_bench.methods.registry import ESTIMATORS, InvalidParameterError

LOG_2PIE = math.log(2 * math.pi * math.e)


def continuous(x) -> SampleSet:
    return SampleSet("continuous", np.asarray(x, dtype=np.float64))


def paired(x, y) -> SampleSet:
    return SampleSet("paired", np.asarray(x, dtype=np.float64), y=np.asarray(y, dtype=np.float64))


def correlated_pairs(n: int, rho: float, dim: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """x ~ N(0, I_dim), y_i = ρ x_i + √(1−ρ²) z_i: I(X; Y) = −(dim/2) log(1 − ρ²)."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, dim))
    return x, rho * x + math.sqrt(1 - rho**2) * rng.standard_normal((n, dim))


def test_registered_with_quantities_and_kinds():
    expected = {
        "kozachenko_leonenko": ("differential_entropy", "continuous"),
        "gaussian": ("differential_entropy", "continuous"),
        "ksg": ("mutual_information", "paired"),
        "gaussian_mi": ("mutual_information", "paired"),
    }
    for name, (quantity, kind) in expected.items():
        estimator = ESTIMATORS.build(name)
        assert (estimator.quantity, estimator.sample_kind) == (quantity, kind)
    assert ESTIMATORS.build("ksg", k=5).id == "ksg(k=5)"


# --- Kozachenko–Leonenko --------------------------------------------------------------------


def test_unit_ball_volumes():
    assert log_unit_ball_volume(1) == pytest.approx(math.log(2))
    assert log_unit_ball_volume(2) == pytest.approx(math.log(math.pi))
    assert log_unit_ball_volume(3) == pytest.approx(math.log(4 * math.pi / 3))


def test_kl_by_hand_on_three_points():
    # 1-D points 0, 1, 3 with k = 1: ε = (1, 1, 2); Ĥ = ψ(3) − ψ(1) + log 2 + (1/3) log 2.
    h = KozachenkoLeonenko(k=1)(continuous([[0.0], [1.0], [3.0]]))
    assert h == pytest.approx(digamma(3) - digamma(1) + math.log(2) + math.log(2) / 3, abs=1e-14)


@pytest.mark.parametrize(("d", "tol"), [(1, 0.03), (2, 0.04), (5, 0.08)])
def test_kl_standard_normal(d, tol):
    # The KL bias grows with d: about −0.04 nats at d = 5, n = 20000 (the spread over seeds is ~0.01).
    x = np.random.default_rng(d).standard_normal((20000, d))
    assert KozachenkoLeonenko()(continuous(x)) == pytest.approx(0.5 * d * LOG_2PIE, abs=tol)


@pytest.mark.parametrize("d", [1, 2])
def test_kl_uniform_cube_is_zero(d):
    x = np.random.default_rng(10 + d).random((20000, d))
    assert abs(KozachenkoLeonenko()(continuous(x))) < 0.03


@pytest.mark.parametrize("a", [3.7, -0.01, 250.0])
def test_kl_scaling_law_is_exact(a):
    x = np.random.default_rng(0).standard_normal((3000, 3))
    h, h_scaled = (KozachenkoLeonenko()(continuous(v)) for v in (x, a * x))
    assert h_scaled - h == pytest.approx(3 * math.log(abs(a)), abs=1e-12)


def test_kl_is_translation_and_permutation_invariant():
    x = np.random.default_rng(1).standard_normal((3000, 2))
    h = KozachenkoLeonenko()(continuous(x))
    assert KozachenkoLeonenko()(continuous(x + [5.0, -3.0])) == pytest.approx(h, abs=1e-10)
    assert KozachenkoLeonenko()(continuous(x[::-1])) == pytest.approx(h, abs=1e-12)


def test_kl_large_n_is_accurate():
    x = np.random.default_rng(2).standard_normal((100_000, 2)) * [1.0, 3.0]
    assert KozachenkoLeonenko()(continuous(x)) == pytest.approx(LOG_2PIE + math.log(3), abs=0.01)


def test_kl_duplicates():
    x = np.random.default_rng(3).standard_normal((200, 2))
    with_k_copies = np.vstack([x, np.repeat(x[:1], 3, axis=0)])  # x_0 now has 3 = k copies
    assert KozachenkoLeonenko(k=3)(continuous(with_k_copies)) == float("-inf")
    assert math.isfinite(KozachenkoLeonenko(k=4)(continuous(with_k_copies)))  # fewer than k copies


def test_kl_rejects_bad_k_and_too_few_samples():
    with pytest.raises(InvalidParameterError):
        KozachenkoLeonenko(k=0)
    with pytest.raises(ValueError):
        KozachenkoLeonenko(k=3)(continuous(np.zeros((3, 1))))
    with pytest.raises(TypeError):
        KozachenkoLeonenko()(paired(np.zeros((5, 1)), np.zeros((5, 1))))


# --- KSG ------------------------------------------------------------------------------------


def test_ksg_by_hand_on_four_points():
    # Joint points A(0,0), B(1,2), C(2,1), D(4,4), k = 1, max-norm: ε = (2, 1, 1, 3).
    # Strictly within ε in x: A {B}, B {}, C {}, D {C}; in y: A {C}, B {}, C {}, D {B}.
    x, y = np.array([[0.0], [1.0], [2.0], [4.0]]), np.array([[0.0], [2.0], [1.0], [4.0]])
    counts = np.array([1, 0, 0, 1])
    expected = digamma(1) + digamma(4) - np.mean(2 * digamma(counts + 1))  # = ψ(4) − ψ(2) = 1/2 + 1/3
    assert expected == pytest.approx(5 / 6, abs=1e-14)
    assert KSG(k=1)(paired(x, y)) == pytest.approx(expected, abs=1e-14)


def test_ksg_independent_gaussians_average_near_zero():
    # Under independence Î scatters around 0: spread ≈ 0.017 at n = 2000, so one estimate is
    # within ±0.02 only about 75 % of the time; the mean of 20 is within ±0.015 (≈ 4 s.e.).
    estimates = [KSG()(paired(*np.random.default_rng(s).standard_normal((2, 2000, 1)))) for s in range(20)]
    assert abs(np.mean(estimates)) < 0.015
    assert np.std(estimates) < 0.03


@pytest.mark.parametrize(("rho", "dim"), [(0.5, 1), (0.9, 1), (0.6, 2)])
def test_ksg_correlated_gaussians(rho, dim):
    x, y = correlated_pairs(5000, rho, dim, seed=int(10 * rho) + dim)
    assert KSG()(paired(x, y)) == pytest.approx(-0.5 * dim * math.log(1 - rho**2), abs=0.04)


def test_ksg_symmetry_and_exact_invariances():
    x, y = correlated_pairs(1000, 0.7, 1, seed=4)
    mi = KSG()(paired(x, y))
    assert KSG()(paired(y, x)) == pytest.approx(mi, abs=1e-14)
    assert KSG()(paired(4.0 * x, 4.0 * y)) == pytest.approx(mi, abs=1e-14)  # max-norm: same scale on both
    assert KSG()(paired(-x, y + 2.0)) == pytest.approx(mi, abs=1e-12)


def test_ksg_is_not_invariant_to_rescaling_one_variable():
    x, y = correlated_pairs(2000, 0.7, 1, seed=5)
    assert abs(KSG()(paired(100.0 * x, y)) - KSG()(paired(x, y))) > 0.01


@pytest.mark.parametrize("rho", [0.3, 0.8])
def test_ksg_equals_sklearn_compute_mi_cc_on_the_same_samples(rho):
    x, y = correlated_pairs(3000, rho, 1, seed=6)
    reference = _compute_mi_cc(x[:, 0].copy(), y[:, 0].copy(), n_neighbors=3)
    assert reference > 0  # sklearn clips negative values to 0
    assert KSG()(paired(x, y)) == pytest.approx(reference, abs=1e-12)


def sklearn_preprocessing(x: np.ndarray, y: np.ndarray, random_state: int) -> tuple[np.ndarray, np.ndarray]:
    """What ``mutual_info_regression`` does to 1-D continuous x and y before its KSG."""
    rng = np.random.RandomState(random_state)
    n = len(x)
    xs = scale(x.astype(np.float64), with_mean=False)
    xs = xs + 1e-10 * np.maximum(1, np.mean(np.abs(xs), axis=0)) * rng.standard_normal(size=(n, 1))
    ys = scale(y[:, 0].astype(np.float64), with_mean=False)
    ys = ys + 1e-10 * max(1.0, float(np.mean(np.abs(ys)))) * rng.standard_normal(size=n)
    return xs, ys[:, None]


@pytest.mark.parametrize(("rho", "x_scale"), [(0.0, 1.0), (0.5, 1.0), (0.9, 30.0)])
def test_ksg_equals_mutual_info_regression_after_its_preprocessing(rho, x_scale):
    x, y = correlated_pairs(2000, rho, 1, seed=7)
    x = x_scale * x
    reference = mutual_info_regression(x, y[:, 0], n_neighbors=3, discrete_features=False, random_state=0)[0]
    ours = KSG()(paired(*sklearn_preprocessing(x, y, random_state=0)))
    assert max(ours, 0.0) == pytest.approx(reference, abs=1e-12)
    if x_scale != 1.0:  # on the raw samples the two differ: sklearn standardised them
        assert abs(KSG()(paired(x, y)) - reference) > 1e-3


def test_ksg_rejects_bad_k():
    with pytest.raises(InvalidParameterError):
        KSG(k=0)
    with pytest.raises(ValueError):
        KSG(k=3)(paired(np.zeros((2, 1)), np.zeros((2, 1))))


# --- Gaussian plug-ins ----------------------------------------------------------------------


def test_gaussian_is_the_closed_form_on_the_ml_covariance():
    x = np.random.default_rng(8).standard_normal((500, 1)) * 2.5 + 1.0
    assert Gaussian()(continuous(x)) == pytest.approx(0.5 * math.log(2 * math.pi * math.e * np.var(x)), abs=1e-12)
    x3 = np.random.default_rng(9).standard_normal((400, 3)) @ np.array([[1.0, 0.5, 0.0], [0.0, 1.0, 0.3], [0.0, 0.0, 2.0]])
    covariance = np.cov(x3, rowvar=False, bias=True)
    expected = 0.5 * math.log(np.linalg.det(2 * math.pi * math.e * covariance))
    assert Gaussian()(continuous(x3)) == pytest.approx(expected, abs=1e-12)


def test_gaussian_converges_to_the_truth():
    sigma = np.array([[2.0, 0.8, 0.0], [0.8, 1.0, -0.3], [0.0, -0.3, 0.5]])
    x = np.random.default_rng(10).standard_normal((100_000, 3)) @ np.linalg.cholesky(sigma).T
    assert Gaussian()(continuous(x)) == pytest.approx(0.5 * math.log(np.linalg.det(2 * math.pi * math.e * sigma)), abs=0.01)


def test_gaussian_small_sample_bias_matches_the_wishart_formula():
    n, d, reps = 20, 3, 4000
    rng = np.random.default_rng(11)
    errors = np.array([Gaussian()(continuous(rng.standard_normal((n, d)))) for _ in range(reps)]) - 0.5 * d * LOG_2PIE
    predicted = 0.5 * sum(digamma((n - i) / 2) - math.log(n / 2) for i in range(1, d + 1))
    assert errors.mean() == pytest.approx(predicted, abs=4 * errors.std() / math.sqrt(reps))


def test_gaussian_singular_covariance_is_minus_infinity():
    x = np.random.default_rng(12).standard_normal((50, 1))
    assert Gaussian()(continuous(np.hstack([x, 2 * x]))) == float("-inf")


def test_gaussian_mi_is_minus_half_log_one_minus_r_squared_in_1d():
    x, y = correlated_pairs(800, 0.6, 1, seed=13)
    r = np.corrcoef(x[:, 0], y[:, 0])[0, 1]
    assert GaussianMI()(paired(x, y)) == pytest.approx(-0.5 * math.log(1 - r**2), abs=1e-12)


def test_gaussian_mi_is_the_entropy_identity():
    x, y = correlated_pairs(600, 0.4, 2, seed=14)
    y = np.hstack([y, np.random.default_rng(15).standard_normal((600, 1))])
    identity = Gaussian()(continuous(x)) + Gaussian()(continuous(y)) - Gaussian()(continuous(np.hstack([x, y])))
    assert GaussianMI()(paired(x, y)) == pytest.approx(identity, abs=1e-10)


def test_gaussian_mi_converges_to_the_truth():
    x, y = correlated_pairs(100_000, 0.8, 2, seed=16)
    assert GaussianMI()(paired(x, y)) == pytest.approx(-math.log(1 - 0.8**2), abs=0.01)


def test_gaussian_mi_of_linearly_dependent_pair_is_infinite():
    x = np.random.default_rng(17).standard_normal((100, 1))
    assert GaussianMI()(paired(x, 3 * x)) == float("inf")
