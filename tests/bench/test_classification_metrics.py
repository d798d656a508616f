"""Classifier metrics of metrics.classification, each against an independent computation.

References: torchmetrics (ECE, same 15 equal-width bins), scikit-learn (accuracy, log loss,
Brier, ROC AUC, ROC curve), loops written here from the definitions (adaptive ECE, the
reliability table, AURC) and values worked out by hand.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch
from sklearn.metrics import accuracy_score, brier_score_loss, log_loss, roc_auc_score, roc_curve
from torchmetrics.functional.classification import binary_calibration_error, multiclass_calibration_error
from torchmetrics.functional.classification.calibration_error import _ce_compute

from entropy_bench.metrics.classification import (
    accuracy, brier, ece, fpr_at_tpr, nll, ood_auroc, reliability, top_label_ece,
)

TOL = 1e-6


def random_probs(seed: int, n: int, k: int, scale: float = 2.0) -> tuple[np.ndarray, np.ndarray]:
    """Softmax of Gaussian logits (float64) and labels that agree with the argmax more often than chance."""
    rng = np.random.default_rng(seed)
    logits = scale * rng.standard_normal((n, k))
    probs = np.exp(logits - logits.max(axis=1, keepdims=True))
    probs /= probs.sum(axis=1, keepdims=True)
    labels = np.where(rng.random(n) < 0.6, probs.argmax(axis=1), rng.integers(0, k, size=n))
    return probs, labels


def rows_with_confidence(confidence, predicted, k: int) -> np.ndarray:
    """Rows whose max is ``confidence`` at class ``predicted``, the rest spread evenly (confidence > 1/k)."""
    confidence = np.asarray(confidence, dtype=float)
    probs = np.repeat(((1 - confidence) / (k - 1))[:, None], k, axis=1)
    probs[np.arange(len(probs)), predicted] = confidence
    return probs


def torchmetrics_ece(probs, labels, n_bins: int = 15) -> float:
    return float(multiclass_calibration_error(torch.tensor(probs), torch.tensor(labels),
                                              num_classes=probs.shape[1], n_bins=n_bins, norm="l1"))


def loop_adaptive_ece(probs, labels, n_bins: int) -> float:
    """Equal-mass ECE by loop: sort by confidence, np.array_split into n_bins groups (tie-free input)."""
    confidence, correct = probs.max(axis=1), probs.argmax(axis=1) == labels
    order = np.argsort(confidence)
    total = 0.0
    for group in np.array_split(order, n_bins):
        if len(group):
            total += len(group) / len(labels) * abs(correct[group].mean() - confidence[group].mean())
    return total


def roc_fpr_at_tpr(scores, is_ood, tpr: float = 0.95) -> float:
    """FPR of the first point of scikit-learn's ROC curve whose TPR reaches ``tpr``."""
    fpr, tprs, _ = roc_curve(is_ood, scores, drop_intermediate=False)
    return float(fpr[np.argmax(tprs >= tpr)])


# --- accuracy, NLL, Brier ---------------------------------------------------------------------


@pytest.mark.parametrize("seed, k", [(0, 2), (1, 3), (2, 10)])
def test_accuracy_nll_brier_match_scikit_learn(seed, k):
    probs, labels = random_probs(seed, 300, k)
    assert accuracy(probs, labels) == pytest.approx(accuracy_score(labels, probs.argmax(axis=1)), abs=TOL)
    assert nll(probs, labels) == pytest.approx(log_loss(labels, probs, labels=range(k)), abs=TOL)
    assert brier(probs, labels) == pytest.approx(
        brier_score_loss(labels, probs, labels=range(k), scale_by_half=False), abs=TOL)


def test_brier_is_scikit_learns_default_for_three_classes_and_twice_it_for_two():
    """scikit-learn's scale_by_half="auto" halves the score only when K < 3."""
    probs3, labels3 = random_probs(3, 100, 3)
    assert brier(probs3, labels3) == pytest.approx(brier_score_loss(labels3, probs3, labels=range(3)), abs=TOL)
    probs2, labels2 = random_probs(4, 100, 2)
    assert brier(probs2, labels2) == pytest.approx(2 * brier_score_loss(labels2, probs2, labels=range(2)), abs=TOL)


def test_nll_and_brier_with_classes_absent_from_labels():
    probs, labels = random_probs(5, 50, 6)
    labels = labels % 3  # classes 3..5 never occur
    assert nll(probs, labels) == pytest.approx(log_loss(labels, probs, labels=range(6)), abs=TOL)
    assert brier(probs, labels) == pytest.approx(brier_score_loss(labels, probs, labels=range(6)), abs=TOL)


def test_hand_computed_accuracy_nll_brier_and_argmax_ties():
    probs = np.array([[0.5, 0.5, 0.0], [0.2, 0.7, 0.1], [0.1, 0.1, 0.8]])
    labels = np.array([0, 1, 0])
    assert accuracy(probs, labels) == pytest.approx(2 / 3)  # the tie goes to class 0
    assert accuracy(probs, [1, 1, 0]) == pytest.approx(1 / 3)
    assert nll(probs, labels) == pytest.approx(-(np.log(0.5) + np.log(0.7) + np.log(0.1)) / 3)
    assert brier(probs, labels) == pytest.approx((0.25 + 0.25 + (0.04 + 0.09 + 0.01) + (0.81 + 0.01 + 0.64)) / 3)


def test_nll_is_inf_when_the_label_has_probability_zero():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert nll([[1.0, 0.0], [0.5, 0.5]], [1, 0]) == np.inf


# --- ECE: equal-width bins as torchmetrics ----------------------------------------------------


@pytest.mark.parametrize("seed, n, k, scale",
                         [(0, 500, 3, 2.0), (1, 257, 10, 4.0), (2, 64, 2, 0.5), (3, 1000, 100, 8.0)])
def test_ece_matches_torchmetrics(seed, n, k, scale):
    probs, labels = random_probs(seed, n, k, scale)
    assert ece(probs, labels) == pytest.approx(torchmetrics_ece(probs, labels), abs=TOL)
    assert ece(probs, labels, n_bins=7) == pytest.approx(torchmetrics_ece(probs, labels, 7), abs=TOL)


def edge_case(ks) -> tuple[np.ndarray, np.ndarray]:
    """Two rows of confidence exactly k/15 for each k, both right for even k and both wrong for odd k (so
    moving a pair into a neighbouring bin changes the ECE), plus a wrong 1.0 and a right 0.94 (1.0 has a
    bin of its own). 16 classes, so k/15 > 1/16 is the unique maximum."""
    ks = np.asarray(ks)
    confidence = np.r_[np.repeat(ks / 15, 2), 1.0, 0.94]
    predicted = np.arange(len(confidence)) % 16
    right = np.r_[np.repeat(ks % 2 == 0, 2), False, True]
    return rows_with_confidence(confidence, predicted, 16), np.where(right, predicted, (predicted + 1) % 16)


def test_ece_matches_torchmetrics_on_bin_edges():
    """Confidences exactly k/15 and exactly 1.0, where torchmetrics' float32 grid is exactly float32(k/15)."""
    grid = torch.linspace(0, 1, 16).numpy()  # the float32 edges torchmetrics bins float32 confidences with
    ks = [k for k in range(1, 16) if grid[k] == np.float32(k / 15)]
    # On the development machine ks = 1, 2, 4, 5, 11..15 (0.2, 0.4, 7/15 .. 2/3 are an ulp off in float32).
    assert 15 in ks and len(ks) >= 5, f"torch.linspace(0, 1, 16) in float32 is {grid}: too few exact edges"
    probs, labels = edge_case(ks)
    assert ece(probs, labels) == pytest.approx(torchmetrics_ece(probs, labels), abs=TOL)


def test_ece_bins_every_edge_as_torchmetrics_does_with_exact_float64_edges():
    """torchmetrics' own bucketing (_ce_compute) given the float64 edges b/15: left-closed bins, 1.0 apart."""
    probs, labels = edge_case(range(1, 16))
    confidence = torch.tensor(probs.max(axis=1))
    correct = torch.tensor((probs.argmax(axis=1) == labels).astype(float))
    expected = float(_ce_compute(confidence, correct, torch.tensor(np.arange(16) / 15), norm="l1"))
    assert ece(probs, labels) == pytest.approx(expected, abs=1e-12)


def test_hand_computed_ece():
    """Bins [13/15, 14/15) ∋ 0.9, 0.9; [9/15, 10/15) ∋ 0.6 (on its left edge); [10/15, 11/15) ∋ 0.7."""
    probs = rows_with_confidence([0.9, 0.9, 0.6, 0.7], [0, 1, 0, 1], 2)
    labels = np.array([0, 0, 0, 1])  # right, wrong, right, right
    expected = 2 / 4 * abs(0.5 - 0.9) + 1 / 4 * abs(1 - 0.6) + 1 / 4 * abs(1 - 0.7)
    assert ece(probs, labels) == pytest.approx(expected, abs=1e-12)
    assert torchmetrics_ece(probs, labels) == pytest.approx(expected, abs=TOL)


def test_confidence_one_has_a_bin_of_its_own():
    """1.0 wrong and 0.94 right: separate bins give 1/2·1 + 1/2·0.06, one shared bin would give |1/2 − 0.97|."""
    probs = rows_with_confidence([1.0, 0.94], [0, 0], 3)
    labels = np.array([1, 0])
    assert ece(probs, labels) == pytest.approx(0.5 + 0.5 * 0.06, abs=1e-12)
    assert torchmetrics_ece(probs, labels) == pytest.approx(0.53, abs=TOL)


def test_perfectly_calibrated_ece_is_zero_in_both_binnings():
    """Five rows at 0.6 with three right, four at 0.75 with three right."""
    probs = rows_with_confidence([0.6] * 5 + [0.75] * 4, [0] * 9, 2)
    labels = np.array([0, 1, 0, 1, 0] + [0, 0, 1, 0])
    assert ece(probs, labels) == pytest.approx(0.0, abs=1e-12)
    assert torchmetrics_ece(probs, labels) == pytest.approx(0.0, abs=TOL)
    for n_bins in (1, 2, 3, 4, 9):  # the tie group at 0.6 straddles adaptive bins; tie-averaging keeps 0
        assert ece(probs, labels, n_bins=n_bins, binning="adaptive") == pytest.approx(0.0, abs=1e-12)


# --- ECE: adaptive (equal-mass) bins ----------------------------------------------------------


@pytest.mark.parametrize("seed, n, k, n_bins", [(0, 500, 3, 15), (1, 101, 10, 15), (2, 10, 4, 15), (3, 333, 2, 7)])
def test_adaptive_ece_matches_a_loop_over_sorted_groups(seed, n, k, n_bins):
    probs, labels = random_probs(seed, n, k)
    assert len(np.unique(probs.max(axis=1))) == n  # tie-free, so the loop's order is unambiguous
    assert ece(probs, labels, n_bins=n_bins, binning="adaptive") == pytest.approx(
        loop_adaptive_ece(probs, labels, n_bins), abs=1e-12)


def test_adaptive_ece_averages_ties_and_ignores_row_order():
    """Confidences 0.6, 0.6, 0.6, 0.9 (right, wrong, wrong, right), two bins of two rows.

    The 0.6 tie group has mean correctness 1/3; bin 1 = two 0.6 rows, bin 2 = one 0.6 and the 0.9.
    """
    probs = rows_with_confidence([0.6, 0.6, 0.6, 0.9], [0, 0, 0, 0], 3)
    labels = np.array([0, 1, 1, 0])
    expected = 2 / 4 * abs(1 / 3 - 0.6) + 2 / 4 * abs((1 / 3 + 1) / 2 - 0.75)
    for order in ([0, 1, 2, 3], [1, 2, 0, 3], [3, 2, 1, 0]):
        assert ece(probs[order], labels[order], n_bins=2, binning="adaptive") == pytest.approx(expected, abs=1e-12)


# --- reliability table ------------------------------------------------------------------------


@pytest.mark.parametrize("seed, n_bins", [(0, 15), (1, 4)])
def test_reliability_matches_a_loop_over_bins_and_sums_to_ece(seed, n_bins):
    probs, labels = random_probs(seed, 400, 16, scale=4.0)
    edge_probs, edge_labels = edge_case(range(1, 16))  # rows exactly on every 15-bin edge and at 1.0
    probs, labels = np.r_[probs, edge_probs], np.r_[labels, edge_labels]
    confidence, correct = probs.max(axis=1), probs.argmax(axis=1) == labels
    table = reliability(probs, labels, n_bins=n_bins)
    assert len(table["edges"]) == n_bins + 2 and table["count"].sum() == len(labels)
    for b in range(n_bins + 1):
        lo, hi = min(b / n_bins, 1.0), min((b + 1) / n_bins, 1.0)
        members = confidence == 1.0 if b == n_bins else (confidence >= lo) & (confidence < hi)
        assert (table["edges"][b], table["edges"][b + 1]) == (pytest.approx(lo), pytest.approx(hi))
        assert table["count"][b] == members.sum()
        if members.any():
            assert table["confidence"][b] == pytest.approx(confidence[members].mean(), abs=1e-12)
            assert table["accuracy"][b] == pytest.approx(correct[members].mean(), abs=1e-12)
        else:
            assert np.isnan(table["confidence"][b]) and np.isnan(table["accuracy"][b])
    filled = table["count"] > 0
    gaps = np.abs(table["accuracy"][filled] - table["confidence"][filled])
    assert ece(probs, labels, n_bins=n_bins) == pytest.approx(np.sum(table["count"][filled] / len(labels) * gaps),
                                                              abs=1e-12)


# --- ECE of precomputed confidence and correctness --------------------------------------------


@pytest.mark.parametrize("seed", [0, 1])
def test_top_label_ece_matches_torchmetrics_binary_and_ece_of_probs(seed):
    probs, labels = random_probs(seed, 300, 16, scale=3.0)
    edge_probs, edge_labels = edge_case(range(1, 16))
    confidence = np.r_[probs.max(axis=1), edge_probs.max(axis=1)]
    correct = np.r_[probs.argmax(axis=1) == labels, edge_probs.argmax(axis=1) == edge_labels].astype(float)
    expected = float(binary_calibration_error(torch.tensor(confidence[:300]), torch.tensor(correct[:300]).long(),
                                              n_bins=15, norm="l1"))
    assert top_label_ece(confidence[:300], correct[:300]) == pytest.approx(expected, abs=TOL)
    for binning in ("equal_width", "adaptive"):
        assert top_label_ece(confidence, correct, 15, binning) == pytest.approx(
            ece(np.r_[probs, edge_probs], np.r_[labels, edge_labels], 15, binning), abs=1e-12)


def test_top_label_ece_bad_input():
    with pytest.raises(ValueError, match="confidence must lie in"):
        top_label_ece([0.5, 1.5], [1, 0])
    with pytest.raises(ValueError, match="correct must be 0 or 1"):
        top_label_ece([0.5, 0.7], [1, 0.5])
    with pytest.raises(ValueError, match="confidence and correct differ in length"):
        top_label_ece([0.5, 0.7], [1])
    with pytest.raises(ValueError, match="binning must be one of"):
        top_label_ece([0.5, 0.7], [1, 0], binning="equal_mass")
    with pytest.warns(RuntimeWarning, match="dropped 1 of 3"):
        assert top_label_ece([0.5, np.nan, 0.75], [1, 0, 1]) == pytest.approx(0.5 * 0.5 + 0.5 * 0.25)


# --- OOD detection on the mixed set -----------------------------------------------------------


def mixed_case(seed: int, n_id: int, n_ood: int, ties: bool) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    scores = np.r_[rng.normal(0, 1, n_id), rng.normal(1, 1, n_ood)]
    if ties:
        scores = np.round(scores * 2)
    is_ood = np.r_[np.zeros(n_id, bool), np.ones(n_ood, bool)]
    perm = rng.permutation(n_id + n_ood)
    return scores[perm], is_ood[perm]


MIXED_CASES = [(0, 300, 100, False), (1, 50, 200, True), (2, 7, 3, True), (3, 1, 1, False), (4, 60, 20, True),
               (5, 10, 1, False)]


@pytest.mark.parametrize("seed, n_id, n_ood, ties", MIXED_CASES)
def test_ood_auroc_matches_roc_auc_score(seed, n_id, n_ood, ties):
    scores, is_ood = mixed_case(seed, n_id, n_ood, ties)
    assert ood_auroc(scores, is_ood) == pytest.approx(roc_auc_score(is_ood, scores), abs=TOL)


def test_ood_auroc_needs_the_mixed_set():
    scores, is_ood = mixed_case(0, 30, 20, False)
    with pytest.raises(ValueError, match="mixed in-distribution"):
        ood_auroc(scores[is_ood], is_ood[is_ood])  # OOD rows alone
    with pytest.raises(ValueError, match="mixed in-distribution"):
        ood_auroc(scores[~is_ood], is_ood[~is_ood])  # ID rows alone
    with pytest.raises(ValueError, match="mixed in-distribution"), pytest.warns(RuntimeWarning, match="dropped 30"):
        ood_auroc(np.where(is_ood, scores, np.nan), is_ood)  # no ID row with a finite score


def test_ood_auroc_uses_the_in_distribution_rows():
    scores, is_ood = mixed_case(1, 40, 40, False)
    before = ood_auroc(scores, is_ood)
    shifted = np.where(is_ood, scores, scores + 1.0)  # same OOD rows, ID rows more uncertain
    after = ood_auroc(shifted, is_ood)
    assert after < before - 0.05
    assert after == pytest.approx(roc_auc_score(is_ood, shifted), abs=TOL)


@pytest.mark.parametrize("seed, n_id, n_ood, ties", MIXED_CASES)
@pytest.mark.parametrize("tpr", [0.95, 0.5, 1.0])
def test_fpr_at_tpr_matches_the_roc_curve(seed, n_id, n_ood, ties, tpr):
    scores, is_ood = mixed_case(seed, n_id, n_ood, ties)
    assert fpr_at_tpr(scores, is_ood, tpr) == pytest.approx(roc_fpr_at_tpr(scores, is_ood, tpr), abs=TOL)


@pytest.mark.parametrize("n_ood", range(1, 41))
def test_fpr_at_95_matches_the_roc_curve_for_every_ood_count(n_ood):
    """k = the smallest count with k / m ≥ 0.95, exactly as the ROC curve's TPR comparison."""
    scores, is_ood = mixed_case(n_ood, 25, n_ood, True)
    assert fpr_at_tpr(scores, is_ood) == pytest.approx(roc_fpr_at_tpr(scores, is_ood), abs=TOL)


def test_fpr_at_95_hand_counted():
    """OOD scores 1..20: 19 of them must be flagged, so t* = 2; ID rows ≥ 2 are 2, 2.5, 3 → 3/5."""
    ood, in_dist = np.arange(1.0, 21.0), np.array([0.5, 1.5, 2.0, 2.5, 3.0])
    scores, is_ood = np.r_[in_dist, ood], np.r_[np.zeros(5, bool), np.ones(20, bool)]
    assert fpr_at_tpr(scores, is_ood) == pytest.approx(3 / 5)
    assert fpr_at_tpr(scores, is_ood, tpr=0.5) == pytest.approx(0.0)  # t* = 11
    assert fpr_at_tpr(scores, is_ood, tpr=1.0) == pytest.approx(4 / 5)  # t* = 1


def test_fpr_at_95_is_zero_when_separated_and_one_when_reversed():
    in_dist, ood = np.linspace(0, 1, 30), np.linspace(2, 3, 10)
    is_ood = np.r_[np.zeros(30, bool), np.ones(10, bool)]
    assert fpr_at_tpr(np.r_[in_dist, ood], is_ood) == 0.0
    assert fpr_at_tpr(np.r_[in_dist + 5, ood], is_ood) == 1.0
    assert ood_auroc(np.r_[in_dist, ood], is_ood) == 1.0 and ood_auroc(np.r_[in_dist + 5, ood], is_ood) == 0.0


# --- non-finite rows and bad input ------------------------------------------------------------


def test_non_finite_rows_are_dropped_with_one_warning():
    probs, labels = random_probs(8, 50, 3)
    bad = probs.copy()
    bad[[3, 7]] = [np.nan, 0.5, 0.5]
    keep = np.ones(50, bool)
    keep[[3, 7]] = False
    for metric in (accuracy, nll, brier, ece):
        with pytest.warns(RuntimeWarning, match="dropped 2 of 50") as record:
            value = metric(bad, labels)
        assert len(record) == 1
        assert value == pytest.approx(metric(probs[keep], labels[keep]), abs=1e-12)
    scores, is_ood = mixed_case(0, 30, 20, False)
    scores[[0, 1]] = [np.inf, np.nan]
    with pytest.warns(RuntimeWarning, match="dropped 2 of 50"):
        assert ood_auroc(scores, is_ood) == pytest.approx(roc_auc_score(is_ood[2:], scores[2:]), abs=TOL)


def test_empty_input_is_nan():
    for metric in (accuracy, nll, brier, ece):
        assert np.isnan(metric(np.zeros((0, 3)), np.zeros(0, int)))


@pytest.mark.parametrize("probs, labels, match", [
    ([[0.5, 0.5], [0.2, 0.8]], [0, 1, 1], "labels"),
    ([[0.5, 0.5], [0.2, 0.7]], [0, 1], "probs rows must sum to 1"),
    ([[1.2, -0.2], [0.2, 0.8]], [0, 1], "probs must be non-negative"),
    ([[0.5, 0.5], [0.2, 0.8]], [0, 2], r"labels must lie in \[0, 2\)"),
    ([[0.5, 0.5], [0.2, 0.8]], [-1, 0], r"labels must lie in \[0, 2\)"),
    ([[0.5, 0.5], [0.2, 0.8]], [0.0, 1.0], "labels must be integers"),
    ([0.5, 0.5], [0], "probs must be a 2-d"),
])
@pytest.mark.parametrize("metric", [accuracy, nll, brier, ece, reliability])
def test_bad_probs_or_labels_raise(metric, probs, labels, match):
    with pytest.raises(ValueError, match=match):
        metric(np.asarray(probs), np.asarray(labels))


def test_bad_arguments_raise():
    probs, labels = random_probs(9, 10, 3)
    with pytest.raises(ValueError, match="binning must be one of"):
        ece(probs, labels, binning="quantile")
    with pytest.raises(ValueError, match="n_bins"):
        ece(probs, labels, n_bins=0)
    with pytest.raises(ValueError, match="scores and is_ood differ in length"):
        ood_auroc(np.zeros(3), [True, False])
    with pytest.raises(ValueError, match="scores and is_ood differ in length"):
        fpr_at_tpr(np.zeros(3), [True, False])
    with pytest.raises(ValueError, match="is_ood must be boolean"):
        ood_auroc(np.zeros(3), [0, 1, 2])
    with pytest.raises(ValueError, match="tpr"):
        fpr_at_tpr([0.0, 1.0], [False, True], tpr=0.0)
