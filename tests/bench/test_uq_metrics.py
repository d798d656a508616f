"""Error-detection, selective-prediction, calibration and temperature metrics of metrics.uq.

Each expected value comes from an independent reference: scikit-learn / scipy, a value worked
out by hand, a closed form, or a brute-force loop written here from the metric's definition
(PRR: LM-Polygraph's rejection curve, ties averaged by enumerating every order of the rows).
"""

from __future__ import annotations

import itertools
import math
import warnings

import numpy as np
import pytest
from scipy.stats import spearmanr
from sklearn.isotonic import IsotonicRegression
from sklearn.metrics import average_precision_score, roc_auc_score

from entropy_bench.metrics.bootstrap import bootstrap_ci
from entropy_bench.metrics.uq import (
    UQ_METRICS, auprc, aurc, auroc, brier, calibrated_confidence, calibration_metrics, ece, prr, prr_aucpr,
    spearman, tsu,
)


def tied_case(seed: int, n: int = 60) -> tuple[np.ndarray, np.ndarray]:
    """Integer scores (many ties) that carry some signal about ``correct``; both classes present."""
    rng = np.random.default_rng(seed)
    correct = rng.integers(0, 2, size=n)
    correct[:2] = [0, 1]
    scores = np.clip(rng.integers(0, 6, size=n) + 2 * (1 - correct) - 1, 0, None).astype(float)
    return scores, correct


# --- references ------------------------------------------------------------------------------


def brute_force_ap(scores, positive) -> float:
    """Σ over distinct thresholds t (high → low) of (R_t − R_prev) · P_t, predicting positive when score ≥ t."""
    scores, positive = np.asarray(scores, float), np.asarray(positive, float)
    ap, previous_recall = 0.0, 0.0
    for t in sorted(set(scores), reverse=True):
        flagged = scores >= t
        tp = positive[flagged].sum()
        recall = tp / positive.sum()
        ap += (recall - previous_recall) * tp / flagged.sum()
        previous_recall = recall
    return ap


def rejection_auc_of_order(quality_in_order, n_rej: int) -> float:
    """LM-Polygraph's curve, by loop: reject the r most uncertain (r = 0..n_rej − 1), mean retained quality."""
    n = len(quality_in_order)
    return sum(sum(quality_in_order[: n - r]) / (n - r) for r in range(n_rej)) / n_rej


def brute_force_prr(scores, quality, max_rejection: float = 1.0) -> float:
    """PRR with every row order enumerated: ties get every order equally often; random = all orders."""
    n = len(scores)
    n_rej = int(max_rejection * n)
    by_score, at_random = [], []
    for perm in itertools.permutations(range(n)):
        ranked = sorted(perm, key=lambda i: scores[i])  # stable: the tie order is that of ``perm``
        by_score.append(rejection_auc_of_order([quality[i] for i in ranked], n_rej))
        at_random.append(rejection_auc_of_order([quality[i] for i in perm], n_rej))
    oracle = rejection_auc_of_order(sorted(quality, reverse=True), n_rej)
    random = sum(at_random) / len(at_random)
    return (sum(by_score) / len(by_score) - random) / (oracle - random)


def expected_retained_sum(scores: np.ndarray, quality: np.ndarray, k: int) -> float:
    """Expected quality sum of the k least uncertain when a tie at the cut is broken at random."""
    cut = np.sort(scores)[k - 1]
    below = scores < cut
    return quality[below].sum() + (k - below.sum()) * quality[scores == cut].mean()


def cutwise_prr(scores, quality, max_rejection: float = 1.0) -> float:
    """PRR for larger n: the expected retained mean at each cut; random = mean quality at every cut."""
    scores, quality = np.asarray(scores, float), np.asarray(quality, float)
    n = len(scores)
    ks = range(n - int(max_rejection * n) + 1, n + 1)
    auc = np.mean([expected_retained_sum(scores, quality, k) / k for k in ks])
    oracle = np.mean([np.sort(quality)[::-1][:k].mean() for k in ks])
    return (auc - quality.mean()) / (oracle - quality.mean())


def brute_force_aurc(scores, correct) -> float:
    """Mean risk over coverages k/n, averaged over every order of the rows (ties: every order)."""
    n, total = len(scores), []
    for perm in itertools.permutations(range(n)):
        errors = [1 - correct[i] for i in sorted(perm, key=lambda i: scores[i])]
        total.append(sum(sum(errors[:k]) / k for k in range(1, n + 1)) / n)
    return sum(total) / len(total)


def optimal_aurc(n: int, m: int) -> float:
    """Best ordering: all n − m right answers first, so risk(k) = (k − (n − m)) / k past them."""
    return sum(j / (n - m + j) for j in range(1, m + 1)) / n


def loop_ece(confidence, correct, n_bins: int) -> float:
    """Bins [0, 1/M], (1/M, 2/M], …, (1 − 1/M, 1] by explicit comparison with the linspace edges."""
    confidence, correct = np.asarray(confidence, float), np.asarray(correct, float)
    edges, total = np.linspace(0, 1, n_bins + 1), 0.0
    for b in range(n_bins):
        low = confidence >= edges[b] if b == 0 else confidence > edges[b]
        inside = low & (confidence <= edges[b + 1])
        if inside.any():
            total += inside.mean() * abs(correct[inside].mean() - confidence[inside].mean())
    return total


# --- error detection -------------------------------------------------------------------------


@pytest.mark.parametrize("seed", range(4))
def test_auroc_and_auprc_equal_scikit_learn_with_ties(seed):
    scores, correct = tied_case(seed)
    assert auroc(scores, correct) == pytest.approx(roc_auc_score(1 - correct, scores), abs=1e-12)
    assert auprc(scores, correct) == pytest.approx(average_precision_score(1 - correct, scores), abs=1e-12)
    assert auprc(scores, correct) == pytest.approx(brute_force_ap(scores, 1 - correct), abs=1e-12)
    assert auprc(scores, correct.astype(bool)) == auprc(scores, correct)


def test_auprc_direction_and_chance_level():
    correct = np.array([1, 1, 0, 0])
    assert auprc([0.1, 0.2, 0.8, 0.9], correct) == 1.0
    assert auprc([0.5, 0.5, 0.5, 0.5], correct) == 0.5  # one threshold: precision = error rate


# --- PRR -------------------------------------------------------------------------------------


def test_prr_of_the_oracle_is_exactly_one():
    rng = np.random.default_rng(0)
    correct = rng.integers(0, 2, size=500)
    quality = rng.random(500)
    assert prr(1 - correct, correct) == 1.0
    assert prr(1 - correct, correct, max_rejection=0.5) == 1.0
    assert prr(-quality, correct, quality=quality) == 1.0
    assert prr(3 - 2 * quality, correct, quality=quality) == 1.0


def test_prr_of_random_scores_is_zero_on_average_and_of_the_reversed_oracle_negative():
    rng = np.random.default_rng(1)
    correct = (rng.random(2000) < 0.6).astype(int)
    values = [prr(rng.permutation(2000), correct) for _ in range(200)]
    assert abs(np.mean(values)) < 0.05
    assert prr(correct, correct) < 0
    assert prr(correct, correct) < min(values)


@pytest.mark.parametrize("seed", range(3))
@pytest.mark.parametrize("max_rejection", [1.0, 0.6])
def test_prr_equals_brute_force_over_every_order_with_ties(seed, max_rejection):
    rng = np.random.default_rng(seed)
    scores = rng.integers(0, 3, size=6).astype(float)  # ties
    correct = np.array([1, 0, 1, 1, 0, 0])[rng.permutation(6)]
    quality = rng.random(6).round(1)
    expected = brute_force_prr(list(scores), list(correct), max_rejection)
    assert prr(scores, correct, max_rejection=max_rejection) == pytest.approx(expected, abs=1e-12)
    expected = brute_force_prr(list(scores), list(quality), max_rejection)
    assert prr(scores, correct, quality=quality, max_rejection=max_rejection) == pytest.approx(expected, abs=1e-12)


@pytest.mark.parametrize("max_rejection", [1.0, 0.5])
def test_prr_with_a_continuous_quality_equals_the_cutwise_reference(max_rejection):
    rng = np.random.default_rng(3)
    quality = rng.random(300)  # e.g. ROUGE
    tied = np.round(1 - quality + rng.normal(0, 0.3, size=300), 1)
    distinct = 1 - quality + rng.normal(0, 0.3, size=300)
    correct = (quality > 0.5).astype(int)
    for scores in (tied, distinct):
        got = prr(scores, correct, quality=quality, max_rejection=max_rejection)
        assert got == pytest.approx(cutwise_prr(scores, quality, max_rejection), abs=1e-12)
        assert 0 < got < 1


def test_prr_ties_do_not_depend_on_row_order():
    scores, correct = np.zeros(8), np.array([1, 1, 1, 1, 0, 0, 0, 0])
    assert prr(scores, correct) == pytest.approx(0.0, abs=1e-12)
    assert prr(scores, correct[::-1]) == pytest.approx(0.0, abs=1e-12)


def test_prr_undefined_cases_are_nan_and_bad_max_rejection_raises():
    assert math.isnan(prr([0.1, 0.2, 0.3], [1, 0, 1], quality=[0.4, 0.4, 0.4]))  # constant quality
    assert math.isnan(prr([0.1, 0.2, 0.3], [1, 0, 1], max_rejection=0.5))  # one rejection step only
    with pytest.raises(ValueError):
        prr([0.1, 0.2], [1, 0], max_rejection=0)


# --- PRR (precision–recall ratio of the Inv-Entropy code) -----------------------------------


def test_prr_aucpr_oracle_and_hand_computed_case():
    correct = np.array([1, 0, 1, 1, 0])
    assert prr_aucpr(1 - correct, correct) == 1.0
    # confidence order: 0.1 (right), 0.2 (wrong), 0.3 (right), 0.4 (wrong): AP = (1/1 + 2/3) / 2
    assert prr_aucpr([0.1, 0.2, 0.3, 0.4], [1, 0, 1, 0]) == pytest.approx(5 / 6, abs=1e-12)


@pytest.mark.parametrize("seed", range(3))
def test_prr_aucpr_is_the_authors_ratio(seed):
    scores, correct = tied_case(seed)
    scores = scores / 10  # uncertainties in [0, 1], as 1 − u assumes
    theirs = average_precision_score(correct, 1 - scores) / average_precision_score(correct, correct)
    assert prr_aucpr(scores, correct) == pytest.approx(theirs, abs=1e-12)
    assert prr_aucpr(scores, correct) == pytest.approx(brute_force_ap(-scores, correct), abs=1e-12)


# --- AURC ------------------------------------------------------------------------------------


def test_aurc_hand_computed():
    # ascending score: errors 0, 1, 0, 0, 1 → risks 0, 1/2, 1/3, 1/4, 2/5 → mean 89/300
    assert aurc([0.2, 0.1, 0.4, 0.3, 0.5], [0, 1, 1, 1, 0]) == pytest.approx(89 / 300, abs=1e-12)
    # tie at 0.5 between an error and a right answer: the two orders give 5/24 and 1/3
    assert aurc([0.1, 0.5, 0.5, 0.9], [1, 0, 1, 0]) == pytest.approx(13 / 48, abs=1e-12)


@pytest.mark.parametrize("seed", range(3))
def test_aurc_equals_brute_force_over_every_order(seed):
    rng = np.random.default_rng(seed)
    scores = list(rng.integers(0, 3, size=6).astype(float))
    correct = list(np.array([1, 0, 1, 1, 0, 1])[rng.permutation(6)])
    assert aurc(scores, correct) == pytest.approx(brute_force_aurc(scores, correct), abs=1e-12)


@pytest.mark.parametrize(("n", "m"), [(5, 2), (10, 1), (37, 20), (1000, 300)])
def test_aurc_of_the_oracle_is_the_optimal_closed_form(n, m):
    correct = np.r_[np.ones(n - m), np.zeros(m)][np.random.default_rng(n).permutation(n)]
    assert aurc(1 - correct, correct) == pytest.approx(optimal_aurc(n, m), abs=1e-12)


def test_aurc_oracle_approaches_its_continuous_limit_and_lower_is_better():
    n, r = 20000, 0.3
    correct = np.r_[np.ones(int(n * (1 - r))), np.zeros(int(n * r))]
    assert aurc(1 - correct, correct) == pytest.approx(r + (1 - r) * math.log(1 - r), abs=1e-3)
    random = np.random.default_rng(0).permutation(n)
    assert aurc(1 - correct, correct) < aurc(random, correct) < aurc(correct, correct)


# --- calibration -----------------------------------------------------------------------------


def test_ece_hand_computed_and_bin_edges():
    # bins [0, .1]: {0.0 wrong, 0.1 right}; (.2, .3]: {0.25 wrong, 0.3 right}; (.9, 1]: {0.95, 1.0 right}
    confidence, correct = [0.0, 0.1, 0.25, 0.3, 0.95, 1.0], [0, 1, 0, 1, 1, 1]
    assert ece(confidence, correct) == pytest.approx((0.9 + 0.45 + 0.05) / 6, abs=1e-12)
    assert ece([0.3, 0.3], [1, 1], n_bins=1) == pytest.approx(0.7)
    assert ece([1.0, 1.0], [1, 1]) == 0.0  # one class is defined


@pytest.mark.parametrize("n_bins", [10, 20, 7])
def test_ece_equals_the_binwise_loop(n_bins):
    rng = np.random.default_rng(n_bins)
    confidence = np.r_[rng.random(200), np.arange(11) / 10, [0.0, 1.0]]  # includes exact edges
    correct = (rng.random(len(confidence)) < confidence).astype(int)
    assert ece(confidence, correct, n_bins=n_bins) == pytest.approx(loop_ece(confidence, correct, n_bins), abs=1e-12)


def test_ece_rejects_confidence_outside_the_unit_interval():
    with pytest.raises(ValueError):
        ece([1.2, 0.5], [1, 0])


def test_brier_hand_computed():
    assert brier([0.9, 0.2], [1, 0]) == pytest.approx((0.01 + 0.04) / 2, abs=1e-12)
    assert brier([1.0, 1.0], [True, True]) == 0.0


def test_calibrated_confidence_is_non_increasing_in_the_score_and_a_probability():
    rng = np.random.default_rng(0)
    scores = rng.normal(size=300)
    correct = (rng.random(300) < 1 / (1 + np.exp(2 * scores))).astype(int)
    grid = np.linspace(-5, 5, 401)  # beyond the training range on both sides: clipped
    confidence = calibrated_confidence(scores, correct, grid)
    assert np.all(np.diff(confidence) <= 0) and confidence.min() >= 0 and confidence.max() <= 1
    assert confidence[0] > confidence[-1]
    reference = IsotonicRegression(increasing=False, out_of_bounds="clip", y_min=0, y_max=1).fit(scores, correct)
    np.testing.assert_allclose(confidence, reference.predict(grid), atol=1e-12)
    backwards = calibrated_confidence(scores, 1 - correct, grid)  # a measure that is backwards: pooled flat
    assert np.all(np.diff(backwards) <= 1e-12) and np.ptp(backwards) < 0.2


def test_calibrated_confidence_non_finite_scores():
    with pytest.warns(RuntimeWarning, match="dropped 2 of"):
        out = calibrated_confidence([0.1, np.nan, 0.9, 0.5], [1, 1, 0, 1], [0.2, np.inf, 0.8])
    assert np.isfinite(out[[0, 2]]).all() and np.isnan(out[1])


def test_calibration_metrics_is_deterministic_and_fits_on_one_half_only():
    rng = np.random.default_rng(5)
    scores = rng.normal(size=200)
    correct = (rng.random(200) < 1 / (1 + np.exp(2 * scores))).astype(int)
    first = calibration_metrics(scores, correct, split_seed=3)
    assert first == calibration_metrics(scores, correct, split_seed=3)
    assert first != calibration_metrics(scores, correct, split_seed=4)
    order = np.random.default_rng(3).permutation(200)
    evaluate, fit = order[:100], order[100:]
    iso = IsotonicRegression(increasing=False, out_of_bounds="clip", y_min=0, y_max=1).fit(scores[fit], correct[fit])
    confidence = iso.predict(scores[evaluate])
    assert first["ece"] == pytest.approx(loop_ece(confidence, correct[evaluate], 10), abs=1e-12)
    assert first["brier"] == pytest.approx(np.mean((confidence - correct[evaluate]) ** 2), abs=1e-12)


# --- Spearman and TSU ------------------------------------------------------------------------


@pytest.mark.parametrize("seed", range(3))
def test_spearman_equals_scipy(seed):
    rng = np.random.default_rng(seed)
    quality = rng.integers(0, 5, size=80).astype(float)  # ties
    scores = -quality + rng.normal(size=80)
    assert spearman(scores, quality) == pytest.approx(spearmanr(scores, quality)[0], abs=1e-12)
    assert spearman(scores, quality) < 0  # a good measure: more uncertain, lower quality


def test_spearman_of_constant_input_is_nan_without_warning():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert math.isnan(spearman([1.0, 1.0, 1.0], [0.1, 0.5, 0.9]))
        assert math.isnan(spearman([0.1, 0.5, 0.9], [2.0, 2.0, 2.0]))


def test_tsu():
    temperatures = [0.3, 0.7, 1.0]
    increasing = np.array([[0.1, 0.5], [0.2, 0.6], [0.3, 0.9]])
    assert tsu(increasing, temperatures) == 1.0
    assert tsu(increasing[::-1], temperatures) == 0.0
    # 3 of 4 questions increase from T = 1.0 to T = 1.4; a tie is not an increase
    assert tsu([[0.1, 0.2, 0.3, 0.4], [0.2, 0.3, 0.4, 0.4]], [1.0, 1.4]) == 0.75
    # question 2 rises then falls: increasing at (T1, T2), not over the range
    scores = np.array([[0.1, 0.1, 0.5], [0.2, 0.3, 0.4], [0.3, 0.2, 0.6]])
    assert tsu(scores[:2], temperatures[:2]) == pytest.approx(2 / 3)
    assert tsu(scores, temperatures) == pytest.approx(1 / 3)


def test_tsu_drops_questions_with_a_non_finite_score_and_checks_temperatures():
    scores = np.array([[0.1, 0.2, np.nan, 0.4], [0.2, 0.1, 0.5, np.inf]])
    with pytest.warns(RuntimeWarning, match="dropped 2 of 4 questions"):
        assert tsu(scores, [0.5, 1.0]) == 0.5
    with pytest.warns(RuntimeWarning):
        assert math.isnan(tsu(np.full((2, 3), np.nan), [0.5, 1.0]))
    with pytest.raises(ValueError):
        tsu(scores, [1.0, 0.5])


# --- undefined input, non-finite rows, bootstrap ---------------------------------------------


@pytest.mark.parametrize("name", list(UQ_METRICS))
def test_one_class_and_empty_input_are_nan(name):
    metric = UQ_METRICS[name]
    for correct in ([1, 1, 1, 1], [0, 0, 0, 0], [True, True, True, True]):
        assert math.isnan(metric([0.1, 0.4, 0.2, 0.3], correct))
    assert math.isnan(metric([], []))


def test_other_metrics_on_empty_input_are_nan():
    assert all(math.isnan(v) for v in (ece([], []), brier([], []), spearman([], []), tsu(np.zeros((2, 0)), [1, 2])))
    assert all(math.isnan(v) for v in calibration_metrics([], []).values())
    assert all(math.isnan(v) for v in calibration_metrics([0.1, 0.2, 0.3, 0.4], [1, 1, 1, 1]).values())


@pytest.mark.parametrize("name", list(UQ_METRICS) + ["spearman", "ece", "brier", "calibration"])
def test_non_finite_rows_are_dropped_with_one_warning(name):
    scores, correct = tied_case(11, n=40)
    metric = {"spearman": spearman, "ece": lambda s, c: ece(s / 10, c), "brier": lambda s, c: brier(s / 10, c),
              "calibration": lambda s, c: calibration_metrics(s, c)["ece"]}.get(name) or UQ_METRICS[name]
    dirty = scores.copy()
    dirty[[3, 17]] = [np.nan, np.inf]
    keep = np.isfinite(dirty)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        value = metric(dirty, correct)
    assert [str(w.message) for w in caught] == ["dropped 2 of 40 rows with a non-finite value"]
    assert value == metric(scores[keep], correct[keep])
    with pytest.warns(RuntimeWarning, match="dropped 2 of 40"):
        metric(dirty, correct)


def bootstrap_cases() -> dict:
    rng = np.random.default_rng(2)
    correct = (rng.random(200) < 0.6).astype(int)
    scores = rng.normal(size=200) + 1.5 * (1 - correct)
    confidence = 1 / (1 + np.exp(scores - 0.5))
    temperatures = [0.5, 1.0, 1.5]
    by_question = np.cumsum(rng.normal(0.2, 0.3, size=(200, 3)), axis=1)  # [n_questions, n_temperatures]
    cases = {name: (metric, scores, correct) for name, metric in UQ_METRICS.items()}
    cases |= {
        "spearman": (spearman, scores, correct + rng.random(200)),
        "ece": (ece, confidence, correct),
        "brier": (brier, confidence, correct),
        "calibration_ece": (lambda s, c: calibration_metrics(s, c)["ece"], scores, correct),
        "calibration_brier": (lambda s, c: calibration_metrics(s, c)["brier"], scores, correct),
        "tsu": (lambda q: tsu(q.T, temperatures), by_question),
    }
    return cases


@pytest.mark.parametrize("name", list(bootstrap_cases()))
def test_every_metric_works_inside_bootstrap_ci(name):
    metric, *arrays = bootstrap_cases()[name]
    point = metric(*arrays)
    low, high = bootstrap_ci(metric, *arrays, n_resamples=100, seed=0)
    assert low <= point <= high and low < high
