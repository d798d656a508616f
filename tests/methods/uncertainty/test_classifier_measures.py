"""The classifier measures against independent references: hand-computed values, scipy / torch for
the softmax, entropy and the temperature's NLL, MAPIE for the APS sets, and the conformal coverage
guarantee on exchangeable synthetic data."""

from __future__ import annotations

import math

import numpy as np
import pytest
import scipy.special
import scipy.stats
import torch
from sklearn.base import BaseEstimator, ClassifierMixin

from entropy_bench.methods.registry import UNCERTAINTY, InvalidParameterError
from entropy_bench.methods.uncertainty.classifier import ClassifierMeasure, entropy, mutual_information, softmax
from entropy_bench.methods.uncertainty.conformal_aps import aps_scores, aps_sets, conformal_quantile
from entropy_bench.methods.uncertainty.temperature_scaling import fit_temperature

NAMES = ("max_softmax_prob", "softmax_entropy", "softmax_margin", "energy", "temperature_scaling",
         "mc_dropout_mi", "ensemble_mi", "conformal_aps")


def logits_of(probs) -> np.ndarray:
    """Logits whose softmax is ``probs`` (up to round-off): their logarithms."""
    return np.log(np.asarray(probs, dtype=np.float64))


def sample_labels(probs: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """One label per row drawn from the row's distribution (inverse CDF)."""
    return (rng.random((len(probs), 1)) > np.cumsum(probs, axis=1)).sum(axis=1).clip(max=probs.shape[1] - 1)


# --- the shared math ------------------------------------------------------------------------


def test_softmax_and_entropy_match_scipy_and_handle_zeros_and_large_logits():
    rng = np.random.default_rng(0)
    z = rng.normal(scale=5.0, size=(7, 6))
    np.testing.assert_allclose(softmax(z), scipy.special.softmax(z, axis=1), rtol=1e-13)
    np.testing.assert_allclose(softmax(z + 1000.0), softmax(z), rtol=1e-12)  # no overflow
    np.testing.assert_allclose(entropy(softmax(z)), scipy.stats.entropy(softmax(z), axis=1), rtol=1e-12)
    assert entropy(np.array([1.0, 0.0, 0.0])) == 0.0  # 0 log 0 = 0, no NaN
    assert entropy(np.array([0.5, 0.5, 0.0])) == pytest.approx(math.log(2))


def test_mutual_information_is_nonnegative_and_zero_for_identical_distributions():
    rng = np.random.default_rng(1)
    probs = softmax(rng.normal(scale=2.0, size=(5, 50, 4)))
    mi = mutual_information(probs)
    assert (mi >= 0).all() and (mi > 1e-3).any()
    same = np.repeat(probs[:1], 5, axis=0)
    np.testing.assert_allclose(mutual_information(same), 0.0, atol=1e-12)


# --- analytic values --------------------------------------------------------------------------

Z = np.log([[1.0, 2.0, 1.0]])  # softmax: (¼, ½, ¼)


@pytest.mark.parametrize(("name", "params", "expected"), [
    ("max_softmax_prob", {}, 1 - 0.5),
    ("softmax_entropy", {}, 1.5 * math.log(2)),  # −(½ log ½ + 2 · ¼ log ¼)
    ("softmax_margin", {}, -(0.5 - 0.25)),
    ("energy", {}, -math.log(4)),  # −log(1 + 2 + 1)
    ("energy", {"temperature": 2.0}, -2 * math.log(2 + math.sqrt(2))),  # −2 log(√1 + √2 + √1)
])
def test_confidence_measures_on_hand_computed_logits(name, params, expected):
    score = UNCERTAINTY.build(name, **params)({"logits": Z})
    assert score.shape == (1,)
    assert score[0] == pytest.approx(expected, rel=1e-12)


def test_energy_moves_with_a_shift_of_the_logits_while_the_softmax_measures_do_not():
    z = np.array([[2.0, -1.0, 0.5]])
    energy = UNCERTAINTY.build("energy", temperature=0.7)
    assert energy({"logits": z + 3.0})[0] == pytest.approx(energy({"logits": z})[0] - 3.0, rel=1e-12)
    for name in ("max_softmax_prob", "softmax_entropy", "softmax_margin"):
        m = UNCERTAINTY.build(name)
        np.testing.assert_allclose(m({"logits": z + 3.0}), m({"logits": z}), rtol=1e-12)


def test_mc_dropout_and_ensemble_on_two_hand_computed_passes():
    # pass 1: p = (0.8, 0.2), pass 2: p = (0.2, 0.8) → mean (½, ½): H = log 2, E[H] = h(0.8)
    stacked = logits_of([[[0.8, 0.2]], [[0.2, 0.8]]])
    h = -(0.8 * math.log(0.8) + 0.2 * math.log(0.2))
    for name, key in (("mc_dropout_mi", "mc_logits"), ("ensemble_mi", "member_logits")):
        mi = UNCERTAINTY.build(name)
        total = UNCERTAINTY.build(name, quantity="total_entropy")
        assert mi({key: stacked})[0] == pytest.approx(math.log(2) - h, rel=1e-12)
        assert total({key: stacked})[0] == pytest.approx(math.log(2), rel=1e-12)
        np.testing.assert_allclose(mi.predictive({key: stacked}), [[0.5, 0.5]], rtol=1e-12)


def test_sampled_measures_match_scipy_on_random_passes():
    rng = np.random.default_rng(2)
    stacked = rng.normal(scale=2.0, size=(6, 40, 5))
    p = scipy.special.softmax(stacked, axis=2)
    mean = p.mean(axis=0)
    reference_total = scipy.stats.entropy(mean, axis=1)
    reference_mi = reference_total - scipy.stats.entropy(p, axis=2).mean(axis=0)
    for name, key in (("mc_dropout_mi", "mc_logits"), ("ensemble_mi", "member_logits")):
        stats = {key: stacked}
        np.testing.assert_allclose(UNCERTAINTY.build(name)(stats), reference_mi, rtol=1e-10)
        np.testing.assert_allclose(UNCERTAINTY.build(name, quantity="total_entropy")(stats), reference_total,
                                   rtol=1e-12)
        np.testing.assert_allclose(UNCERTAINTY.build(name).predictive(stats), mean, rtol=1e-12)
        assert (UNCERTAINTY.build(name)(stats) >= 0).all()
        identical = {key: np.repeat(stacked[:1], 6, axis=0)}
        np.testing.assert_allclose(UNCERTAINTY.build(name)(identical), 0.0, atol=1e-12)


def test_temperature_scaling_has_the_closed_form_temperature_of_a_binary_split():
    # logits (a, 0) on 4 rows, 3 labelled 0: the NLL −¾ log σ(a/T) − ¼ log σ(−a/T) is least at
    # σ(a/T) = ¾, i.e. T = a / logit(¾) = a / log 3.
    a = 2.0
    cal = np.array([[a, 0.0]] * 4)
    labels = np.array([0, 0, 0, 1])
    t = fit_temperature(cal, labels)
    assert t == pytest.approx(a / math.log(3), rel=1e-6)
    stats = {"logits": np.array([[a, 0.0], [0.0, 0.0]]), "calibration_logits": cal, "calibration_labels": labels}
    m = UNCERTAINTY.build("temperature_scaling")
    assert m.temperature(stats) == pytest.approx(t, rel=1e-12)
    np.testing.assert_allclose(m.predictive(stats), [[0.75, 0.25], [0.5, 0.5]], rtol=1e-6)
    np.testing.assert_allclose(m(stats), [0.25, 0.5], rtol=1e-6)
    np.testing.assert_allclose(UNCERTAINTY.build("temperature_scaling", score="softmax_entropy")(stats),
                               [scipy.stats.entropy([0.75, 0.25]), math.log(2)], rtol=1e-6)


def test_conformal_aps_on_a_hand_computed_calibration_split():
    # 9 calibration rows with p = (0.5, 0.3, 0.2): the score is the mass above the label, 0 for the
    # 5 labelled 0, 0.5 for the 3 labelled 1, 0.8 for the 1 labelled 2. α = 0.2: k = ⌈10 · 0.8⌉ = 8,
    # τ̂ = the 8th smallest score = 0.5.
    cal_probs = np.array([[0.5, 0.3, 0.2]] * 9)
    labels = np.array([0] * 5 + [1] * 3 + [2])
    np.testing.assert_allclose(aps_scores(cal_probs, labels), [0] * 5 + [0.5] * 3 + [0.8])
    assert conformal_quantile(aps_scores(cal_probs, labels), 0.2) == 0.5
    test = np.array([
        [0.5, 0.3, 0.2],    # mass above: 0, 0.5, 0.8 → {0, 1}: class 1's cumulative mass reaches τ̂
        [0.9, 0.05, 0.05],  # 0, 0.9, 0.9 → {0}
        [0.45, 0.3, 0.25],  # 0, 0.45, 0.75 → {0, 1}
        [0.4, 0.3, 0.3],    # 0, 0.4, 0.4 → all three: class 2 is tied with class 1
        [0.3, 0.3, 0.4],    # 0.4, 0.4, 0 → all three
    ])
    stats = {"logits": logits_of(test), "calibration_logits": logits_of(cal_probs), "calibration_labels": labels}
    measure = UNCERTAINTY.build("conformal_aps", alpha=0.2)
    np.testing.assert_array_equal(measure(stats), [2, 1, 2, 3, 3])
    np.testing.assert_allclose(measure.predictive(stats), test, rtol=1e-12)
    # randomised, u = ½ for every row: scores 0.25 (×5), 0.65 (×3), 0.9 → τ̂ = 0.65; row 0: 0.25,
    # 0.65, 0.9 → {0, 1}; row 1: 0.45, 0.925, 0.925 → {0}; with u = 1 row 0 drops class 1 (0.8 > 0.65)
    tau = conformal_quantile(aps_scores(cal_probs, labels, np.full(9, 0.5)), 0.2)
    assert tau == pytest.approx(0.65)
    np.testing.assert_array_equal(aps_sets(test[:2], tau, np.full(2, 0.5)).sum(axis=1), [2, 1])
    np.testing.assert_array_equal(aps_sets(test[:1], tau, np.ones(1)), [[True, False, False]])


def test_conformal_quantile_is_the_finite_sample_order_statistic():
    scores = np.arange(1.0, 10.0)[::-1]  # n = 9
    assert conformal_quantile(scores, 0.1) == 9.0  # ⌈10 · 0.9⌉ = 9 exactly, not 10 from round-off
    assert conformal_quantile(scores, 0.2) == 8.0
    assert conformal_quantile(scores, 0.35) == 7.0  # ⌈6.5⌉
    assert conformal_quantile(scores[:5], 0.1) == math.inf  # ⌈6 · 0.9⌉ = 6 > 5: every set is full
    stats = {"logits": np.zeros((2, 4)) + [[5, 0, 0, 0]], "calibration_logits": np.zeros((5, 4)),
             "calibration_labels": np.zeros(5, dtype=np.int64)}
    np.testing.assert_array_equal(UNCERTAINTY.build("conformal_aps")(stats), [4, 4])


def peaked_and_flat_stats() -> dict:
    """Row 0 peaked, row 1 flat (or, for the sampled measures, passes that disagree)."""
    rng = np.random.default_rng(3)
    cal = rng.normal(scale=3.0, size=(200, 3))
    return {
        "logits": np.array([[8.0, 0.0, 0.0], [0.0, 0.0, 0.0]]),
        "mc_logits": np.array([[[8.0, 0.0, 0.0], [8.0, 0.0, 0.0]], [[8.0, 0.0, 0.0], [0.0, 8.0, 0.0]]]),
        "member_logits": np.array([[[8.0, 0.0, 0.0], [0.0, 0.0, 8.0]], [[8.0, 0.0, 0.0], [0.0, 8.0, 0.0]]]),
        "calibration_logits": cal, "calibration_labels": sample_labels(softmax(cal), rng),
    }


@pytest.mark.parametrize("name", NAMES)
def test_a_peaked_row_scores_below_a_flat_row(name):
    stats = peaked_and_flat_stats()
    measure = UNCERTAINTY.build(name)
    scores = measure({k: stats[k] for k in measure.requires})
    assert scores.shape == (2,) and scores[0] < scores[1], (name, scores)
    probs = measure.predictive({k: stats[k] for k in measure.requires})
    assert probs.shape == (2, 3)
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, rtol=1e-12)


# --- temperature scaling: the fit -------------------------------------------------------------


def reference_nll(logits: np.ndarray, labels: np.ndarray, t: float) -> float:
    return float(torch.nn.functional.cross_entropy(torch.from_numpy(logits / t), torch.from_numpy(labels)))


def test_fit_temperature_agrees_with_a_brute_force_grid():
    rng = np.random.default_rng(4)
    logits = rng.normal(scale=4.0, size=(300, 5))
    labels = sample_labels(softmax(logits / 1.7), rng)  # an over-confident model: T > 1
    grid = np.geomspace(0.05, 20.0, 2001)  # log steps of 3e-3
    best = grid[np.argmin([reference_nll(logits, labels, t) for t in grid])]
    fine = np.geomspace(best * 0.995, best * 1.005, 2001)  # steps of 5e-6 relative
    best = fine[np.argmin([reference_nll(logits, labels, t) for t in fine])]
    t = fit_temperature(logits, labels)
    assert abs(t - best) < 1e-4, (t, best)
    assert t > 1.0


@pytest.mark.parametrize("t0", [0.5, 2.5])
def test_fit_temperature_recovers_the_temperature_that_generated_the_labels(t0):
    # labels ~ softmax(z / T₀): T₀ is the NLL's population minimiser; its estimate's relative
    # standard deviation at N = 20000 is about 1 % (20 seeds), so 5 % is 5 sigma.
    rng = np.random.default_rng(5)
    logits = rng.normal(scale=3.0, size=(20000, 5))
    labels = sample_labels(softmax(logits / t0), rng)
    assert fit_temperature(logits, labels) == pytest.approx(t0, rel=0.05)


def test_temperature_scaling_keeps_the_argmax_and_does_not_mutate_its_input():
    rng = np.random.default_rng(6)
    stats = {"logits": rng.normal(scale=3.0, size=(50, 4)), "calibration_logits": rng.normal(scale=3.0, size=(100, 4)),
             "calibration_labels": rng.integers(0, 4, 100)}
    copies = {k: v.copy() for k, v in stats.items()}
    probs = UNCERTAINTY.build("temperature_scaling").predictive(stats)
    np.testing.assert_array_equal(probs.argmax(axis=1), stats["logits"].argmax(axis=1))
    for k in stats:
        np.testing.assert_array_equal(stats[k], copies[k])


# --- conformal APS: MAPIE and coverage -----------------------------------------------------------


class GivenProbabilities(ClassifierMixin, BaseEstimator):
    """A prefit classifier whose features are its probabilities: ``predict_proba(X) = X``."""

    def __init__(self, n_classes: int = 2):
        self.n_classes = n_classes

    def fit(self, X, y=None):
        self.classes_ = np.arange(self.n_classes)
        return self

    def predict_proba(self, X):
        return np.asarray(X, dtype=np.float64)

    def predict(self, X):
        return np.argmax(X, axis=1)


class ConstantUniform(np.random.RandomState):
    """A RandomState whose ``uniform`` draws are all ``value``. MAPIE's APS calibration score is
    ``Σ_{j ≤ rank(y)} p_(j) − U · p_y`` with U ~ U[0, 1] always drawn, also for its non-randomised
    sets (``include_last_label=True``); U = 1 makes it ours, the mass strictly above the label."""

    def __init__(self, value: float):
        super().__init__(0)
        self.value = value

    def uniform(self, low=0.0, high=1.0, size=None):
        return np.full(size, self.value)


def mapie_sets(cal, labels, test, alpha, random_state, include_last_label):
    from mapie.classification import SplitConformalClassifier

    mapie = SplitConformalClassifier(estimator=GivenProbabilities(cal.shape[1]).fit(cal, labels),
                                     conformity_score="aps", prefit=True, confidence_level=1 - alpha,
                                     random_state=random_state)
    mapie.conformalize(cal, labels)
    _, sets = mapie.predict_set(test, conformity_score_params={"include_last_label": include_last_label})
    return sets[:, :, 0]


def synthetic_split(seed: int, n_cal: int, n_test: int, k: int = 6):
    """Model probabilities softmax(z) and labels drawn from softmax(z / 1.5) (a miscalibrated model)."""
    rng = np.random.default_rng(seed)
    z = rng.normal(scale=2.0, size=(n_cal + n_test, k))
    labels = sample_labels(softmax(z / 1.5), rng)
    return z[:n_cal], labels[:n_cal], z[n_cal:], labels[n_cal:]


@pytest.mark.parametrize("alpha", [0.05, 0.1, 0.2, 0.3])
def test_conformal_aps_sets_equal_mapie(alpha):
    cal_z, cal_y, test_z, _ = synthetic_split(7, 500, 1000)
    cal, test = softmax(cal_z), softmax(test_z)
    stats = {"logits": test_z, "calibration_logits": cal_z, "calibration_labels": cal_y}
    measure = UNCERTAINTY.build("conformal_aps", alpha=alpha)
    expected = mapie_sets(cal, cal_y, test, alpha, ConstantUniform(1.0), include_last_label=True)
    np.testing.assert_array_equal(measure.sets(stats), expected)
    np.testing.assert_array_equal(measure(stats), expected.sum(axis=1))
    assert 1 < measure(stats).mean() < 6  # the sets are neither all singletons nor all full

    # randomised: MAPIE draws U_cal = RandomState(s).uniform(n_cal) for the scores cumsum − U·p_y and
    # keeps the crossing class iff u ≥ V, u = RandomState(s).uniform(n_test): ours with w = 1 − U.
    seed = 11
    w_cal = 1 - np.random.RandomState(seed).uniform(size=len(cal_y))
    w_test = 1 - np.random.RandomState(seed).uniform(size=(len(test), 1))[:, 0]
    ours = aps_sets(test, conformal_quantile(aps_scores(cal, cal_y, w_cal), alpha), w_test)
    np.testing.assert_array_equal(ours, mapie_sets(cal, cal_y, test, alpha, seed, include_last_label="randomized"))


@pytest.mark.parametrize("randomized", [False, True])
def test_conformal_aps_covers_at_least_one_minus_alpha_on_exchangeable_data(randomized):
    # n_cal = 199, α = 0.1: k = 180 = (n + 1)(1 − α), so E[coverage] = 0.9 exactly for the randomised
    # sets and ≥ 0.9 for the non-randomised ones. The mean over R splits has a standard error
    # (measured: the splits' std / √R, about 0.002) and must lie above 0.9 − 4 SE — and, randomised,
    # below 0.9 + 4 SE.
    alpha, n_cal, n_test, repeats = 0.1, 199, 200, 200
    coverage, sizes = [], []
    for r in range(repeats):
        cal_z, cal_y, test_z, test_y = synthetic_split(100 + r, n_cal, n_test)
        stats = {"logits": test_z, "calibration_logits": cal_z, "calibration_labels": cal_y}
        measure = UNCERTAINTY.build("conformal_aps", alpha=alpha, **({"randomized": True, "seed": r}
                                                                     if randomized else {}))
        sets = measure.sets(stats)
        coverage.append(sets[np.arange(n_test), test_y].mean())
        sizes.append(sets.sum(axis=1).mean())
    mean, se = np.mean(coverage), np.std(coverage) / math.sqrt(repeats)
    assert mean >= 1 - alpha - 4 * se, (mean, se)
    if randomized:
        assert mean <= 1 - alpha + 4 * se, (mean, se)
    assert np.mean(sizes) < 6


# --- the registry and bad input ---------------------------------------------------------------


def test_ids_requires_and_the_base_class():
    assert {n: UNCERTAINTY.build(n).id for n in NAMES} == {
        "max_softmax_prob": "max_softmax_prob",
        "softmax_entropy": "softmax_entropy",
        "softmax_margin": "softmax_margin",
        "energy": "energy(temperature=1.0)",
        "temperature_scaling": "temperature_scaling(score=max_softmax_prob)",
        "mc_dropout_mi": "mc_dropout_mi(quantity=mutual_information)",
        "ensemble_mi": "ensemble_mi(quantity=mutual_information)",
        "conformal_aps": "conformal_aps(alpha=0.1,randomized=False)",
    }
    calibration = {"logits", "calibration_logits", "calibration_labels"}
    assert {n: set(UNCERTAINTY.build(n).requires) for n in NAMES} == {
        "max_softmax_prob": {"logits"}, "softmax_entropy": {"logits"}, "softmax_margin": {"logits"},
        "energy": {"logits"}, "temperature_scaling": calibration, "mc_dropout_mi": {"mc_logits"},
        "ensemble_mi": {"member_logits"}, "conformal_aps": calibration,
    }
    assert all(isinstance(UNCERTAINTY.build(n), ClassifierMeasure) for n in NAMES)
    assert UNCERTAINTY.build("conformal_aps", randomized=True, seed=3).id == \
        "conformal_aps(alpha=0.1,randomized=True,seed=3)"
    assert UNCERTAINTY.build("energy", temperature=2).id == "energy(temperature=2.0)"


def test_a_misspelled_parameter_gets_a_did_you_mean():
    with pytest.raises(InvalidParameterError, match="temperature") as err:
        UNCERTAINTY.build("energy", temprature=1.0)
    assert "did you mean 'temperature'" in str(err.value)


@pytest.mark.parametrize(("name", "params", "field"), [
    ("energy", {"temperature": 0.0}, "temperature"),
    ("energy", {"temperature": -1.0}, "temperature"),
    ("conformal_aps", {"alpha": 0.0}, "alpha"),
    ("conformal_aps", {"alpha": 1.0}, "alpha"),
    ("conformal_aps", {"alpha": 1.5}, "alpha"),
    ("conformal_aps", {"randomized": True}, "seed"),
    ("conformal_aps", {"seed": 3}, "seed"),
    ("temperature_scaling", {"score": "softmax_margin"}, "score"),
    ("mc_dropout_mi", {"quantity": "mutual_informaton"}, "quantity"),
    ("ensemble_mi", {"quantity": "expected_entropy"}, "quantity"),
])
def test_invalid_parameters_raise_naming_the_field(name, params, field):
    with pytest.raises(InvalidParameterError) as err:
        UNCERTAINTY.build(name, **params)
    assert err.value.field == field and field in str(err.value)


GOOD = {"logits": np.zeros((3, 4)), "mc_logits": np.zeros((2, 3, 4)), "member_logits": np.zeros((2, 3, 4)),
        "calibration_logits": np.zeros((5, 4)), "calibration_labels": np.arange(5) % 4}


@pytest.mark.parametrize(("name", "statistic", "value"), [
    ("mc_dropout_mi", "mc_logits", np.zeros((3, 4))),
    ("mc_dropout_mi", "mc_logits", np.zeros((0, 3, 4))),
    ("ensemble_mi", "member_logits", np.zeros((2, 3, 4, 1))),
    ("max_softmax_prob", "logits", np.zeros((2, 3, 4))),
    ("softmax_entropy", "logits", np.array([[0.0, np.nan]])),
    ("energy", "logits", np.zeros(3)),
    ("softmax_margin", "logits", np.zeros((3, 0))),
    ("temperature_scaling", "calibration_logits", np.zeros((5, 3))),
    ("temperature_scaling", "calibration_labels", np.arange(4)),
    ("conformal_aps", "calibration_labels", np.array([0, 1, 2, 3, 4])),
    ("conformal_aps", "calibration_labels", np.zeros(5)),
])
def test_a_statistic_of_the_wrong_shape_raises_naming_it(name, statistic, value):
    measure = UNCERTAINTY.build(name)
    stats = {k: GOOD[k] for k in measure.requires} | {statistic: value}
    with pytest.raises(ValueError, match=repr(statistic)):
        measure(stats)
    assert measure({k: GOOD[k] for k in measure.requires}).shape == (3,)
