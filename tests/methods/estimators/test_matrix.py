"""Matrix estimators: matrix entropy, Matrix Nuclear-Norm and RankMe, against hand-built matrices
with known spectra, their population limits, and the papers' own computation routes."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest
import torch

from entropy_bench.methods.estimators.effective_rank import EffectiveRank
from entropy_bench.methods.estimators.matrix_entropy import (
    MatrixEntropy,
    centre_and_row_normalise,
    gram_matrix_entropy,
    paper_matrix_entropy,
    smaller_side_matrix_entropy,
)
from entropy_bench.methods.estimators.matrix_nuclear_norm import MatrixNuclearNorm, paper_matrix_nuclear_norm
from entropy_bench.methods.records import SampleSet
from entropy_bench.methods.registry import ESTIMATORS, InvalidParameterError


def continuous(x) -> SampleSet:
    return SampleSet("continuous", np.asarray(x, dtype=np.float64))


def orthonormal_columns(n: int, r: int, seed: int) -> np.ndarray:
    """Q [n, r] with Qᵀ Q = I_r."""
    q, _ = np.linalg.qr(np.random.default_rng(seed).standard_normal((n, r)))
    return q


def with_spectrum(n: int, singular_values: np.ndarray, seed: int) -> np.ndarray:
    """X [n, d] = U diag(s) Vᵀ with random orthonormal U, V: singular values exactly ``s``."""
    d = len(singular_values)
    return orthonormal_columns(n, d, seed) * singular_values @ orthonormal_columns(d, d, seed + 1).T


def entropy_of(p: np.ndarray) -> float:
    p = p[p > 0] / p.sum()
    return float(-np.sum(p * np.log(p)))


def test_registered_with_quantities():
    quantities = {"matrix_entropy": "matrix_entropy", "matrix_nuclear_norm": "nuclear_norm", "effective_rank": "effective_rank"}
    for name, quantity in quantities.items():
        estimator = ESTIMATORS.build(name)
        assert (estimator.quantity, estimator.sample_kind) == (quantity, "continuous")
    assert ESTIMATORS.build("matrix_nuclear_norm", approx="l12").id == "matrix_nuclear_norm(approx=l12)"
    assert ESTIMATORS.build("matrix_entropy", alpha=2.0).id == "matrix_entropy(alpha=2.0)"


@pytest.mark.parametrize(
    ("factory", "field", "value"),
    [(MatrixEntropy, "alpha", 0.0), (MatrixEntropy, "alpha", float("inf")), (MatrixNuclearNorm, "approx", "svd")],
)
def test_rejects_invalid_parameters(factory, field, value):
    with pytest.raises(InvalidParameterError) as err:
        factory(**{field: value})
    assert err.value.field == field


# --- matrix entropy -------------------------------------------------------------------------


@pytest.mark.parametrize("alpha", [0.5, 1.0, 2.0])
def test_isotropic_gives_log_d(alpha):
    d = 6
    assert MatrixEntropy(alpha=alpha).population(np.eye(d)) == pytest.approx(math.log(d), abs=1e-12)
    assert MatrixEntropy(alpha=alpha)(continuous(orthonormal_columns(50, d, 0))) == pytest.approx(math.log(d), abs=1e-12)


@pytest.mark.parametrize("alpha", [0.5, 1.0, 3.0])
def test_rank_one_gives_zero(alpha):
    rng = np.random.default_rng(1)
    u, v = rng.standard_normal(40), rng.standard_normal(7)
    assert MatrixEntropy(alpha=alpha)(continuous(np.outer(u, v))) == pytest.approx(0.0, abs=1e-12)
    assert MatrixEntropy(alpha=alpha).population(np.outer(v, v)) == pytest.approx(0.0, abs=1e-12)


def test_von_neumann_of_a_known_spectrum():
    s = np.array([3.0, 2.0, 1.0, 0.5])
    lam = s**2 / np.sum(s**2)
    x = with_spectrum(30, s, seed=2)
    assert MatrixEntropy()(continuous(x)) == pytest.approx(-np.sum(lam * np.log(lam)), abs=1e-12)
    assert MatrixEntropy(alpha=2.0)(continuous(x)) == pytest.approx(-math.log(np.sum(lam**2)), abs=1e-12)


def test_renyi_alpha_to_one_is_von_neumann():
    x = np.random.default_rng(3).standard_normal((40, 8)) * np.arange(1, 9)
    s1 = MatrixEntropy(alpha=1.0)(continuous(x))
    for alpha in (1 - 1e-6, 1 + 1e-6):
        assert MatrixEntropy(alpha=alpha)(continuous(x)) == pytest.approx(s1, abs=1e-5)
    assert MatrixEntropy(alpha=1.1)(continuous(x)) != pytest.approx(s1, abs=1e-3)  # the limit is not trivial


def test_renyi_entropy_decreases_in_alpha():
    x = np.random.default_rng(4).standard_normal((60, 10)) * np.arange(1, 11)
    values = [MatrixEntropy(alpha=a)(continuous(x)) for a in (0.3, 0.7, 1.0, 1.5, 2.0, 5.0)]
    assert all(a > b for a, b in zip(values, values[1:]))


def test_renyi_two_is_minus_log_trace_of_the_squared_gram():
    x = np.random.default_rng(5).standard_normal((25, 9))
    k = x @ x.T
    a = k / np.trace(k)
    assert MatrixEntropy(alpha=2.0)(continuous(x)) == pytest.approx(-math.log(np.trace(a @ a)), abs=1e-12)


@pytest.mark.parametrize(("n", "d"), [(20, 50), (50, 20), (30, 30)])
@pytest.mark.parametrize("alpha", [0.5, 1.0, 2.0])
def test_gram_side_equals_covariance_side(n, d, alpha):
    x = np.random.default_rng(n + d).standard_normal((n, d)) * np.linspace(0.2, 3.0, d)
    gram = gram_matrix_entropy(torch.from_numpy(x), alpha)  # n × n, whatever the shape
    covariance = MatrixEntropy(alpha=alpha).population(x.T @ x)  # d × d, whatever the shape
    assert gram == pytest.approx(covariance, abs=1e-8)
    assert MatrixEntropy(alpha=alpha)(continuous(x)) == pytest.approx(gram, abs=1e-8)
    assert smaller_side_matrix_entropy(torch.from_numpy(x), alpha) == pytest.approx(gram, abs=1e-8)


def test_paper_baseline_is_centred_row_normalised_entropy_over_log_d():
    r = torch.randn(80, 16, dtype=torch.float64, generator=torch.Generator().manual_seed(6)) + 3.0
    z = centre_and_row_normalise(r)
    centred = r - r.mean(dim=0)
    assert torch.allclose(z * torch.linalg.vector_norm(centred, dim=1, keepdim=True), centred)
    assert torch.allclose(torch.linalg.vector_norm(z, dim=1), torch.ones(80, dtype=torch.float64))
    expected = MatrixEntropy()(continuous(z.numpy())) / math.log(16)
    assert paper_matrix_entropy(r) == pytest.approx(expected, abs=1e-10)


def test_matrix_entropy_converges_to_population():
    sigma = np.diag([4.0, 2.0, 1.0, 0.25, 0.1])
    x = np.random.default_rng(7).standard_normal((200_000, 5)) @ np.sqrt(sigma)
    for alpha in (0.5, 1.0, 2.0):
        estimator = MatrixEntropy(alpha=alpha)
        assert estimator(continuous(x)) == pytest.approx(estimator.population(sigma), abs=2e-3)


# --- effective rank (RankMe) ----------------------------------------------------------------


@pytest.mark.parametrize("r", [1, 3, 7])
def test_effective_rank_of_orthonormal_columns_is_the_rank(r):
    q = orthonormal_columns(40, r, seed=r)
    x = np.hstack([q, np.zeros((40, 2))])  # zero columns do not count
    assert EffectiveRank()(continuous(x)) == pytest.approx(r, abs=1e-10)
    assert EffectiveRank()(continuous(5.0 * x)) == pytest.approx(r, abs=1e-10)


def test_effective_rank_of_a_known_spectrum():
    s = np.array([4.0, 2.0, 1.0, 1.0])
    assert EffectiveRank()(continuous(with_spectrum(20, s, seed=8))) == pytest.approx(math.exp(entropy_of(s)), abs=1e-10)
    assert EffectiveRank().population(np.diag(s**2)) == pytest.approx(math.exp(entropy_of(s)), abs=1e-12)


def test_effective_rank_population_of_a_rank_deficient_moment():
    v = np.random.default_rng(9).standard_normal((6, 2))
    m = v @ v.T  # rank 2; its four zero eigenvalues come out of eigvalsh as rounding noise
    s = np.sqrt(np.linalg.eigvalsh(v.T @ v))
    assert EffectiveRank().population(m) == pytest.approx(math.exp(entropy_of(s)), abs=1e-12)


def test_effective_rank_converges_to_population():
    sigma = np.diag([9.0, 4.0, 1.0, 1.0, 0.01])
    x = np.random.default_rng(10).standard_normal((200_000, 5)) @ np.sqrt(sigma)
    assert EffectiveRank()(continuous(x)) == pytest.approx(EffectiveRank().population(sigma), abs=5e-3)


# --- Matrix Nuclear-Norm --------------------------------------------------------------------


def test_nuclear_norm_of_a_diagonal_matrix_is_the_sum_of_absolute_diagonal():
    diag = np.array([3.0, -2.0, 0.5, -0.25])
    x = np.zeros((9, 4))
    x[:4, :4] = np.diag(diag)
    for approx in ("exact", "l12"):  # a diagonal matrix has orthogonal columns: both agree
        assert MatrixNuclearNorm(approx=approx)(continuous(x)) * 3.0 == pytest.approx(np.abs(diag).sum(), abs=1e-12)


def test_nuclear_norm_of_a_known_spectrum():
    s = np.array([5.0, 1.0, 0.2])
    assert MatrixNuclearNorm()(continuous(with_spectrum(16, s, seed=11))) == pytest.approx(s.sum() / 4.0, abs=1e-12)


def test_l12_equals_exact_for_orthogonal_columns():
    scales = np.array([0.3, 2.0, 1.1, 5.0, 0.7])  # unsorted: the L1,2 sorts column norms itself
    x = orthonormal_columns(30, 5, seed=12) * scales
    exact, l12 = (MatrixNuclearNorm(approx=a)(continuous(x)) for a in ("exact", "l12"))
    assert l12 == pytest.approx(exact, abs=1e-12)
    assert exact == pytest.approx(scales.sum() / math.sqrt(30), abs=1e-12)


def test_l12_bounds_exact_from_above_when_every_column_counts():
    x = np.random.default_rng(13).standard_normal((50, 8)) @ np.random.default_rng(14).standard_normal((8, 8))
    exact, l12 = (MatrixNuclearNorm(approx=a)(continuous(x)) for a in ("exact", "l12"))
    assert l12 > exact + 1e-3  # strict: the columns are far from orthogonal


def test_l12_can_fall_below_exact_when_d_exceeds_n():
    x = np.array([[3.0, 4.0]])  # n = 1: ‖x‖_* = 5, but only the largest column norm (4) counts
    assert MatrixNuclearNorm(approx="exact")(continuous(x)) == pytest.approx(5.0)
    assert MatrixNuclearNorm(approx="l12")(continuous(x)) == pytest.approx(4.0)


def test_paper_mnn_is_l12_on_the_preprocessed_matrix_over_a_further_sqrt_n():
    r = torch.randn(64, 24, dtype=torch.float64, generator=torch.Generator().manual_seed(15)) * torch.linspace(0.1, 2, 24) + 1.0
    z = centre_and_row_normalise(r).numpy()
    for approx in ("l12", "exact"):
        ours = MatrixNuclearNorm(approx=approx)(continuous(z))
        assert paper_matrix_nuclear_norm(r, approx) == pytest.approx(ours / 8.0, abs=1e-12)


def test_nuclear_norm_population():
    m = np.array([[4.0, 1.0], [1.0, 1.0]])
    assert MatrixNuclearNorm().population(m) == pytest.approx(np.sqrt(np.linalg.eigvalsh(m)).sum(), abs=1e-12)
    assert MatrixNuclearNorm(approx="l12").population(m) == pytest.approx(3.0, abs=1e-12)  # √4 + √1
    assert MatrixNuclearNorm(approx="l12").population(m) > MatrixNuclearNorm().population(m)
    assert MatrixNuclearNorm().population(np.diag([4.0, 1.0])) == pytest.approx(3.0, abs=1e-12)


@pytest.mark.parametrize("approx", ["exact", "l12"])
def test_nuclear_norm_converges_to_population(approx):
    a = np.array([[1.0, 0.0, 0.0, 0.0], [0.6, 0.8, 0.0, 0.0], [0.0, -0.5, 1.2, 0.0], [0.3, 0.0, 0.2, 0.4]])
    sigma = a @ a.T
    x = np.random.default_rng(16).standard_normal((200_000, 4)) @ a.T
    estimator = MatrixNuclearNorm(approx=approx)
    assert estimator(continuous(x)) == pytest.approx(estimator.population(sigma), rel=5e-3)


# --- the estimation track's truth -----------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class FakeTask:
    moment: np.ndarray | None

    def second_moment(self):
        return self.moment


def test_truth_is_the_population_of_the_second_moment():
    m = np.diag([2.0, 1.0, 1.0])
    for estimator in (MatrixEntropy(), MatrixNuclearNorm(), EffectiveRank()):
        assert estimator.truth(FakeTask(m)) == pytest.approx(estimator.population(m))
        assert estimator.truth(FakeTask(None)) is None
