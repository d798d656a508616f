"""Synthetic data tasks against independent references: scipy entropies, covariance
determinants, fine-grid quadrature and Monte Carlo from the tasks' own samples."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import special, stats

from entropy_bench.methods.registry import InvalidParameterError
from entropy_bench.methods.records import SampleSet
from entropy_bench.tasks.base import TASKS, DataTask
from entropy_bench.tasks.synthetic import (
    DirichletMultinomial,
    Gaussian,
    GaussianMI,
    GaussianMixture,
    Zipf,
)

LOG_2PIE = math.log(2 * math.pi * math.e)
NAMES = ("zipf", "dirichlet_multinomial", "gaussian", "gaussian_mi", "gaussian_mixture")
KINDS = {"zipf": "discrete", "dirichlet_multinomial": "discrete", "gaussian": "continuous",
         "gaussian_mi": "paired", "gaussian_mixture": "continuous"}
QUANTITIES = ("entropy", "differential_entropy", "mutual_information")
TRUTH = {"zipf": "entropy", "dirichlet_multinomial": "entropy", "gaussian": "differential_entropy",
         "gaussian_mi": "mutual_information", "gaussian_mixture": "differential_entropy"}


def plug_in(x: np.ndarray, k: int) -> float:
    return float(stats.entropy(np.bincount(x, minlength=k)))


def ar1(dim: int, rho: float, scale: float) -> np.ndarray:
    return np.array([[scale**2 * rho ** abs(i - j) for j in range(dim)] for i in range(dim)])


def joint_covariance(dx: int, dy: int, rho: float) -> np.ndarray:
    cov = np.eye(dx + dy)
    for i in range(min(dx, dy)):
        cov[i, dx + i] = cov[dx + i, i] = rho
    return cov


def mixture_logpdf(t: np.ndarray, means: np.ndarray) -> np.ndarray:
    return special.logsumexp(stats.norm.logpdf(t[:, None] - means[None, :]), axis=1) - math.log(len(means))


# --- every task --------------------------------------------------------------------------


@pytest.mark.parametrize("name", NAMES)
def test_registered_with_kind_version_and_one_known_truth(name):
    task = TASKS.build(name)
    assert isinstance(task, DataTask) and task.version == "1" and task.family == name
    assert task.sample_kind == KINDS[name]
    known = {q for q in QUANTITIES if task.truth(q) is not None}
    assert known == {TRUTH[name]}
    assert task.truth("nuclear_norm") is None


@pytest.mark.parametrize("name", NAMES)
def test_sampling_is_pure_nested_and_seeded(name):
    task = TASKS.build(name)
    a, b = task.sample(500, seed=3), TASKS.build(name).sample(500, seed=3)
    assert isinstance(a, SampleSet) and a.kind == task.sample_kind and a.n == 500
    np.testing.assert_array_equal(a.x, b.x)
    np.testing.assert_array_equal(task.sample(200, seed=3).x, a.x[:200])  # nested in n
    other = task.sample(500, seed=4)
    assert np.mean(other.x != a.x) > 0.5
    if a.kind == "paired":
        np.testing.assert_array_equal(task.sample(200, seed=3).y, a.y[:200])
        assert a.x.shape == (500, task.dim_x) and a.y.shape == (500, task.dim_y)
    assert task.sample(0, seed=0).n == 0


def test_tasks_with_different_parameters_use_different_streams():
    a = Gaussian(correlation=0.0).sample(100, 0).x
    b = Gaussian(correlation=0.0, scale=1.0 + 1e-12).sample(100, 0).x
    assert not np.allclose(a, b)


def test_numbers_are_canonical_in_ids():
    assert Zipf(exponent=1).id == Zipf(exponent=1.0).id == "zipf(alphabet_size=100,exponent=1.0)"
    assert Zipf(exponent=1) == Zipf(exponent=1.0)
    np.testing.assert_array_equal(Zipf(exponent=1).sample(50, 0).x, Zipf(exponent=1.0).sample(50, 0).x)


# --- discrete ----------------------------------------------------------------------------


@pytest.mark.parametrize(("k", "s"), [(1, 1.0), (2, 0.0), (100, 1.0), (1000, 1.5), (50, 3.0)])
def test_zipf_truth_is_scipy_entropy_of_the_power_law(k, s):
    weights = np.array([i ** (-s) for i in range(1, k + 1)])
    assert Zipf(alphabet_size=k, exponent=s).truth("entropy") == pytest.approx(stats.entropy(weights), abs=1e-12)
    if s == 0:
        assert Zipf(alphabet_size=k, exponent=s).truth("entropy") == pytest.approx(math.log(k), abs=1e-12)


@pytest.mark.parametrize(("k", "a", "draw"), [(100, 1.0, 0), (100, 1.0, 7), (1000, 0.05, 1), (10, 10.0, 2)])
def test_dirichlet_truth_is_the_entropy_of_its_fixed_draw(k, a, draw):
    task = DirichletMultinomial(alphabet_size=k, concentration=a, draw=draw)
    p = np.random.default_rng(draw).dirichlet(np.full(k, a))
    np.testing.assert_allclose(task.probs, p, rtol=0, atol=0)
    assert task.truth("entropy") == pytest.approx(stats.entropy(p), abs=1e-12)
    assert DirichletMultinomial(alphabet_size=k, concentration=a, draw=draw).truth("entropy") == task.truth("entropy")


def test_dirichlet_draws_differ_and_average_to_the_expected_entropy():
    # E[H(p)] = ψ(Ka + 1) − ψ(a + 1) over p ~ Dirichlet(a·1_K); the spread of H over draws is ~0.05 here.
    k, a = 100, 1.0
    truths = [DirichletMultinomial(alphabet_size=k, concentration=a, draw=d).truth("entropy") for d in range(200)]
    assert len(set(truths)) == 200
    expected = special.digamma(k * a + 1) - special.digamma(a + 1)
    assert np.mean(truths) == pytest.approx(expected, abs=4 * np.std(truths) / math.sqrt(200))


@pytest.mark.parametrize("task", [Zipf(), Zipf(alphabet_size=1000, exponent=1.5), DirichletMultinomial(),
                                  DirichletMultinomial(alphabet_size=50, concentration=0.1, draw=3)], ids=str)
def test_discrete_samples_match_their_probabilities(task):
    k, n = task.alphabet_size, 1_000_000
    samples = task.sample(n, seed=0)
    assert samples.alphabet_size == k and samples.x.dtype == np.int64
    assert samples.x.min() >= 0 and samples.x.max() < k
    counts = samples.counts()
    assert plug_in(samples.x, k) == pytest.approx(task.truth("entropy"), abs=0.01)
    # goodness of fit on the symbols with expected count >= 5 (the rest pooled)
    expected = n * np.asarray(task.probs)
    big = expected >= 5
    observed = np.append(counts[big], counts[~big].sum())
    expected = np.append(expected[big], expected[~big].sum())
    keep = expected > 0
    assert stats.chisquare(observed[keep], expected[keep]).pvalue > 1e-3


def test_zero_probability_symbols_are_never_sampled():
    task = DirichletMultinomial(alphabet_size=1000, concentration=0.001, draw=0)
    zero = np.asarray(task.probs) == 0
    assert zero.any()  # numpy's small-concentration Dirichlet underflows some p_i to exactly 0
    assert not zero[task.sample(100_000, seed=0).x].any()


def test_probabilities_are_read_only():
    with pytest.raises(ValueError):
        Zipf().probs[0] = 1.0


# --- continuous --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("dim", "rho", "scale"), [(1, 0.5, 1.0), (2, 0.5, 1.0), (5, -0.9, 2.0), (10, 0.0, 0.3), (3, 0.99, 1.0)]
)
def test_gaussian_truth_and_second_moment(dim, rho, scale):
    task = Gaussian(dim=dim, correlation=rho, scale=scale)
    cov = ar1(dim, rho, scale)
    np.testing.assert_allclose(task.second_moment(), cov, rtol=0, atol=1e-15)
    reference = stats.multivariate_normal(mean=np.zeros(dim), cov=cov).entropy()
    assert task.truth("differential_entropy") == pytest.approx(reference, abs=1e-10)
    closed = 0.5 * (dim * LOG_2PIE + dim * math.log(scale**2) + (dim - 1) * math.log(1 - rho**2))
    assert task.truth("differential_entropy") == pytest.approx(closed, abs=1e-10)


def test_gaussian_sample_covariance_approaches_sigma():
    task = Gaussian(dim=4, correlation=-0.7, scale=2.0)
    x = task.sample(400_000, seed=1).x
    assert x.shape == (400_000, 4)
    np.testing.assert_allclose(x.T @ x / len(x), ar1(4, -0.7, 2.0), atol=0.04)  # ~5 standard errors
    np.testing.assert_allclose(x.mean(0), 0, atol=0.02)


@pytest.mark.parametrize(("dx", "dy", "rho"), [(1, 1, 0.5), (2, 3, 0.9), (3, 2, -0.3), (4, 4, 0.999), (2, 2, 0.0)])
def test_gaussian_mi_truth_is_the_determinant_formula(dx, dy, rho):
    task = GaussianMI(dim_x=dx, dim_y=dy, correlation=rho)
    cov = joint_covariance(dx, dy, rho)
    det = np.linalg.det
    reference = 0.5 * math.log(det(cov[:dx, :dx]) * det(cov[dx:, dx:]) / det(cov))
    assert task.truth("mutual_information") == pytest.approx(reference, abs=1e-9)
    if rho == 0:
        assert task.truth("mutual_information") == 0.0


@pytest.mark.parametrize(("dx", "dy", "rho"), [(2, 3, 0.8), (1, 1, 0.0)])
def test_gaussian_mi_samples_have_the_joint_covariance(dx, dy, rho):
    s = GaussianMI(dim_x=dx, dim_y=dy, correlation=rho).sample(200_000, seed=2)
    z = np.hstack([s.x, s.y])
    np.testing.assert_allclose(z.T @ z / len(z), joint_covariance(dx, dy, rho), atol=0.02)


@pytest.mark.parametrize("dim", [1, 3])
@pytest.mark.parametrize("k", [1, 2, 5])
def test_mixture_limits(k, dim):
    def truth(separation):
        return GaussianMixture(components=k, separation=separation, dim=dim).truth("differential_entropy")

    single = 0.5 * dim * LOG_2PIE
    assert truth(0.0) == pytest.approx(single, abs=1e-9)
    assert truth(40.0) == pytest.approx(math.log(k) + single, abs=1e-6)
    assert truth(1e4) == pytest.approx(math.log(k) + single, abs=1e-6)


@pytest.mark.parametrize(("k", "sep"), [(2, 1.0), (2, 4.0), (3, 2.5), (7, 0.7), (4, 10.0)])
def test_mixture_quadrature_matches_a_fine_trapezoid_grid(k, sep):
    # the trapezoid rule is spectrally accurate for smooth, Gaussian-decaying integrands
    means = (np.arange(k) - (k - 1) / 2) * sep
    t = np.linspace(means.min() - 15, means.max() + 15, 200_001)
    log_f = mixture_logpdf(t, means)
    reference = float(np.trapezoid(-np.exp(log_f) * log_f, t))
    truth = GaussianMixture(components=k, separation=sep).truth("differential_entropy")
    assert truth == pytest.approx(reference, abs=1e-8)


@pytest.mark.parametrize(("k", "sep", "dim"), [(2, 4.0, 1), (3, 1.5, 2), (5, 6.0, 3)])
def test_mixture_monte_carlo_entropy_and_second_moment(k, sep, dim):
    task = GaussianMixture(components=k, separation=sep, dim=dim)
    x = task.sample(200_000, seed=5).x
    assert x.shape == (200_000, dim)
    means = (np.arange(k) - (k - 1) / 2) * sep
    log_p = mixture_logpdf(x[:, 0], means) + stats.norm.logpdf(x[:, 1:]).sum(axis=1)
    se = log_p.std() / math.sqrt(len(x))
    assert abs(-log_p.mean() - task.truth("differential_entropy")) < 3 * se
    np.testing.assert_allclose(x.T @ x / len(x), task.second_moment(), atol=0.05 * max(1.0, sep**2))


# --- validation --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "params", "field"),
    [
        ("zipf", {"alphabet_size": 0}, "alphabet_size"),
        ("zipf", {"alphabet_size": 10.5}, "alphabet_size"),
        ("zipf", {"exponent": -1.0}, "exponent"),
        ("zipf", {"exponent": math.inf}, "exponent"),
        ("dirichlet_multinomial", {"concentration": 0.0}, "concentration"),
        ("dirichlet_multinomial", {"alphabet_size": -3}, "alphabet_size"),
        ("dirichlet_multinomial", {"draw": -1}, "draw"),
        ("gaussian", {"correlation": 1.0}, "correlation"),
        ("gaussian", {"correlation": -1.0}, "correlation"),
        ("gaussian", {"scale": 0.0}, "scale"),
        ("gaussian", {"dim": 0}, "dim"),
        ("gaussian", {"correlation": math.nan}, "correlation"),
        ("gaussian_mi", {"correlation": 1.5}, "correlation"),
        ("gaussian_mi", {"dim_y": 0}, "dim_y"),
        ("gaussian_mixture", {"components": 0}, "components"),
        ("gaussian_mixture", {"separation": -1.0}, "separation"),
        ("gaussian_mixture", {"dim": 2.0}, "dim"),
        ("gaussian", {"corelation": 0.3}, "corelation"),
    ],
)
def test_invalid_parameters_name_the_field(name, params, field):
    with pytest.raises(InvalidParameterError) as info:
        TASKS.build(name, **params)
    assert info.value.field == field and field in str(info.value)


@pytest.mark.parametrize(("n", "seed", "field"), [(-1, 0, "n"), (10, -1, "seed"), (2.5, 0, "n"), (10, True, "seed")])
def test_invalid_sample_arguments_name_the_field(n, seed, field):
    with pytest.raises(InvalidParameterError) as info:
        Zipf().sample(n, seed)
    assert info.value.field == field
