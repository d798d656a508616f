"""How well an uncertainty score separates right from wrong answers.

Scores follow the suite's convention: higher = more uncertain, so for error detection the
positive class is an **error** (``correct`` == 0). The module holds:

- error detection: ``auroc``, ``auprc``;
- selective prediction: ``prr`` (LM-Polygraph's Prediction Rejection Ratio), ``prr_aucpr``
  (the precision–recall "PRR" of the Inv-Entropy authors' code), ``aurc`` (risk–coverage);
- calibration: ``calibrated_confidence`` (isotonic map uncertainty → P(correct)), ``ece``,
  ``brier``, ``calibration_metrics`` (fit on one random half, evaluate on the other);
- ranking against a continuous quality: ``spearman``;
- without labels: ``tsu`` (Temperature Sensitivity of Uncertainty);
- ``UQ_METRICS``: the per-cell metrics that take ``(scores, correct)``.

Every metric takes array-likes and returns a Python float (``calibrated_confidence`` an array,
``calibration_metrics`` a dict of floats), so each works as the ``statistic`` of
``metrics.bootstrap.bootstrap_ci``. A metric that is undefined on its input (empty input, one
class only, constant quality) is NaN, never an exception. Rows with a non-finite value in any
input are dropped, with one ``RuntimeWarning`` per call saying how many.
"""

from __future__ import annotations

import warnings
from typing import Callable

import numpy as np
from numpy.typing import ArrayLike
from scipy.stats import rankdata, spearmanr
from sklearn.isotonic import IsotonicRegression
from sklearn.metrics import average_precision_score

NAN = float("nan")


# --- input hygiene ---------------------------------------------------------------------------


def _warn_dropped(dropped: int, total: int, what: str = "rows", stacklevel: int = 3) -> None:
    """Warn, attributed to the public metric's caller, that ``dropped`` of ``total`` were non-finite."""
    if dropped:
        message = f"dropped {dropped} of {total} {what} with a non-finite value"
        warnings.warn(message, RuntimeWarning, stacklevel=stacklevel)


def _finite_rows(*arrays: ArrayLike) -> list[np.ndarray]:
    """The arrays as 1-d float arrays, without the rows where any of them is non-finite (one warning)."""
    arrays = [np.asarray(a, dtype=float).reshape(-1) for a in arrays]
    if len({len(a) for a in arrays}) > 1:
        raise ValueError(f"inputs differ in length: {[len(a) for a in arrays]}")
    keep = np.logical_and.reduce([np.isfinite(a) for a in arrays])
    _warn_dropped(int(np.sum(~keep)), len(keep), stacklevel=4)
    return [a[keep] for a in arrays]


def _both_classes(correct: np.ndarray) -> bool:
    return len(correct) > 0 and correct.min() != correct.max()


# --- error detection -------------------------------------------------------------------------


def auroc(scores: ArrayLike, correct: ArrayLike) -> float:
    """AUROC of ``scores`` for detecting errors: P(score of a random error > score of a random right answer).

    Ties count ½, as scikit-learn's ``roc_auc_score(1 - correct, scores)``: computed as the
    Mann–Whitney statistic ``(Σ_{errors} rank − m(m+1)/2) / (m · (n − m))`` with average ranks
    over n scores, m of them errors (a bootstrap calls it thousands of times; this is 30× faster
    than scikit-learn's curve). 0.5 is chance, 1 is perfect. NaN if only one class is present.
    """
    scores, correct = _finite_rows(scores, correct)
    if not _both_classes(correct):
        return NAN
    errors = correct == 0
    m = int(errors.sum())
    return float((rankdata(scores)[errors].sum() - m * (m + 1) / 2) / (m * (len(scores) - m)))


def auprc(scores: ArrayLike, correct: ArrayLike) -> float:
    """Area under the precision–recall curve of ``scores`` for detecting errors (average precision).

    AP = Σ_t (R_t − R_{t−1}) · P_t over the distinct score thresholds t taken from high to low,
    P_t and R_t the precision and recall of "score ≥ t ⇒ error" (scikit-learn
    ``average_precision_score(1 - correct, scores)``, no interpolation). Chance level is the
    error rate, 1 is perfect. NaN if only one class is present.
    """
    scores, correct = _finite_rows(scores, correct)
    if not _both_classes(correct):
        return NAN
    return float(average_precision_score(1 - correct, scores))


# --- selective prediction --------------------------------------------------------------------


def _tie_averaged(scores: np.ndarray, values: np.ndarray) -> np.ndarray:
    """``values`` sorted by ascending score, each run of tied scores replaced by its mean.

    Curves built from cumulative sums of this sequence are the expectation over a uniformly
    random order inside every tie: the expected sum of the first j of g tied values is j × their
    mean. So ties are handled deterministically and independently of the input's row order.
    """
    order = np.argsort(scores, kind="stable")
    sorted_scores, sorted_values = scores[order], values[order]
    starts = np.flatnonzero(np.r_[True, sorted_scores[1:] != sorted_scores[:-1]])
    counts = np.diff(np.r_[starts, len(sorted_scores)])
    return np.repeat(np.add.reduceat(sorted_values, starts) / counts, counts)


def _retained_means(sorted_values: np.ndarray) -> np.ndarray:
    """Mean of the first k values, k = 1..n."""
    return np.cumsum(sorted_values) / np.arange(1, len(sorted_values) + 1)


def _rejection_auc(scores: np.ndarray, quality: np.ndarray, n_rej: int) -> float:
    """LM-Polygraph's ``PredictionRejectionArea``: mean retained quality over rejection counts 0..n_rej − 1."""
    return float(_retained_means(_tie_averaged(scores, quality))[len(quality) - n_rej:].mean())


def prr(scores: ArrayLike, correct: ArrayLike, quality: ArrayLike | None = None, max_rejection: float = 1.0) -> float:
    """Prediction Rejection Ratio, as LM-Polygraph defines it. Higher is better; 1 oracle, ≈ 0 random.

    Followed: IINemo/lm-polygraph v0.7.0-10-gefea882d,
    ``src/lm_polygraph/ue_metrics/pred_rej_area.py`` (``PredictionRejectionArea``) and how
    ``src/lm_polygraph/utils/manager.py::UEManager.eval_ue`` normalises it with
    ``ue_metric.py::normalize_metric`` / ``get_random_scores`` into ``prr_normalized``.

    With q the quality (``quality``, default ``correct``: accuracy) of n examples, N =
    ⌊max_rejection · n⌋ and q_(1..n) sorted by ascending uncertainty (least uncertain first),

        AUC(u) = (1/N) Σ_{k=n−N+1}^{n} (1/k) Σ_{i≤k} q_(i)     (mean quality of the k retained,
                                                                rejecting 0..N−1 most uncertain)
        PRR    = (AUC(scores) − AUC_random) / (AUC(−q) − AUC_random).

    AUC(−q) is the oracle. Conventions that differ from LM-Polygraph's code:

    - AUC_random is its exact expectation over random orders, mean(q) (every retained subset of
      a random order has expected mean quality mean(q)); LM-Polygraph estimates it from 1000
      shuffles of ``arange(n)`` with seed 42.
    - Ties in ``scores`` are averaged over all orders inside the tie (see ``_tie_averaged``);
      LM-Polygraph takes ``np.argsort``'s unspecified order. Without ties the two agree.
    - LM-Polygraph min–max normalises q first; PRR is invariant to that affine map, so it is
      not done here.
    - NaN when PRR is undefined: constant q (oracle = random; LM-Polygraph then reports the
      unnormalised AUC) or N < 2 (every order gives the same curve). Rows with a non-finite score
      or quality are dropped with a warning (LM-Polygraph clips NaN scores to −1e7 instead).

    ``correct`` is used only when ``quality`` is None. ``max_rejection`` must be in (0, 1].
    """
    if not 0 < max_rejection <= 1:
        raise ValueError(f"max_rejection must be in (0, 1], got {max_rejection}")
    scores, quality = _finite_rows(scores, correct if quality is None else quality)
    n_rej = int(max_rejection * len(quality))
    if n_rej < 2 or quality.min() == quality.max():
        return NAN
    random = float(quality.mean())
    oracle = _rejection_auc(-quality, quality, n_rej)
    return (_rejection_auc(scores, quality, n_rej) - random) / (oracle - random)


def prr_aucpr(scores: ArrayLike, correct: ArrayLike) -> float:
    """The "PRR" of the Inv-Entropy authors' code: a ratio of precision–recall AUCs. Higher is better.

    Followed: UMDataScienceLab/Uncertainty-Quantification-for-LLMs @ 857e5b5, ``evaluate.py``
    (``compute_prr``, called from ``compute_metrics`` as ``compute_prr(y_true, -x)`` with
    ``x = -uncertainty``; ``benchmark/lmpolygraph.py`` has the same ``compute_prr``)::

        PRR = AP(correct, 1 − scores) / AP(correct, correct)

    with AP scikit-learn's ``average_precision_score``: the positive class is a **correct**
    answer and the ranking score is the confidence 1 − uncertainty. The oracle AP(correct,
    correct) is exactly 1 whenever a correct answer exists, so this is AP(correct, −scores)
    (−scores ranks as 1 − scores does, without rounding distinct scores together).

    How it differs from ``prr``: no random baseline is subtracted (random scores give about the
    accuracy, not 0), it rewards ranking right answers first on the precision–recall curve
    rather than the mean quality of retained answers, and it takes binary correctness only.
    NaN with one class only (their code gives NaN when all are wrong but 1.0 when all are
    right). Their reported value is the mean over 100 bootstrap resamples; this is the point value.
    """
    scores, correct = _finite_rows(scores, correct)
    if not _both_classes(correct):
        return NAN
    return float(average_precision_score(correct, -scores) / average_precision_score(correct, correct))


def aurc(scores: ArrayLike, correct: ArrayLike) -> float:
    """Area under the risk–coverage curve (Geifman & El-Yaniv 2017). **Lower is better.**

    Retaining the k least uncertain examples (coverage k/n), the risk is their error rate;

        AURC = (1/n) Σ_{k=1}^{n} (1/k) Σ_{i≤k} (1 − correct_(i)),

    correct_(i) sorted by ascending score: the usual ``aurc`` (and LM-Polygraph's
    ``RiskCoverageCurveAUC`` with binary target). Ties in ``scores`` are averaged over all orders
    inside the tie (the expectation, see ``_tie_averaged``). The best ordering gives
    (1/n) Σ_{j=1}^{m} j / (n − m + j) for m errors, ≈ r + (1 − r) ln(1 − r) at error rate r.
    NaN with one class only (every ordering then has the same risk curve).
    """
    scores, correct = _finite_rows(scores, correct)
    if not _both_classes(correct):
        return NAN
    return float(risk_coverage(scores, correct)[1].mean())


def risk_coverage(scores: ArrayLike, correct: ArrayLike) -> tuple[np.ndarray, np.ndarray]:
    """The risk–coverage curve: coverage k/n and the error rate of the k least uncertain
    examples, k = 1 … n (ties averaged as in :func:`aurc`, whose area this is); rows with a
    non-finite score dropped."""
    scores, correct = _finite_rows(scores, correct)
    coverage = np.arange(1, len(scores) + 1) / max(len(scores), 1)
    return coverage, _retained_means(_tie_averaged(scores, 1 - correct))


UQ_METRICS: dict[str, Callable[[ArrayLike, ArrayLike], float]] = {
    "auroc": auroc, "auprc": auprc, "prr": prr, "prr_aucpr": prr_aucpr, "aurc": aurc,
}


# --- calibration -----------------------------------------------------------------------------


def calibrated_confidence(train_scores: ArrayLike, train_correct: ArrayLike, test_scores: ArrayLike) -> np.ndarray:
    """P(correct | score) for ``test_scores``, by isotonic regression fitted on a held-out split.

    scikit-learn ``IsotonicRegression(increasing=False, out_of_bounds="clip", y_min=0,
    y_max=1).fit(train_scores, train_correct)``: the non-increasing step function of the
    uncertainty minimising squared error to correctness, clipped outside the training range
    (Zadrozny & Elkan 2002). Non-finite training rows are dropped; a non-finite test score, or an
    empty training set, gives NaN. At most one warning per call.
    """
    train = [np.asarray(a, dtype=float).reshape(-1) for a in (train_scores, train_correct)]
    test = np.asarray(test_scores, dtype=float).reshape(-1)
    if len(train[0]) != len(train[1]):
        raise ValueError(f"train inputs differ in length: {len(train[0])} and {len(train[1])}")
    keep, finite_test = np.isfinite(train[0]) & np.isfinite(train[1]), np.isfinite(test)
    _warn_dropped(int(np.sum(~keep) + np.sum(~finite_test)), len(keep) + len(test), "training rows and test scores")
    out = np.full(len(test), NAN)
    if keep.any():
        iso = IsotonicRegression(increasing=False, out_of_bounds="clip", y_min=0, y_max=1)
        out[finite_test] = iso.fit(train[0][keep], train[1][keep]).predict(test[finite_test])
    return out


def _ece(confidence: np.ndarray, correct: np.ndarray, n_bins: int) -> float:
    if confidence.min() < 0 or confidence.max() > 1:
        raise ValueError("confidence must lie in [0, 1]")
    edges = np.linspace(0.0, 1.0, n_bins + 1)
    bins = np.maximum(np.searchsorted(edges, confidence, side="left") - 1, 0)
    gap = np.bincount(bins, weights=correct - confidence, minlength=n_bins)
    return float(np.abs(gap).sum() / len(confidence))


def ece(confidence: ArrayLike, correct: ArrayLike, n_bins: int = 10) -> float:
    """Expected calibration error of ``confidence`` (= P(correct), in [0, 1]). Lower is better.

    Equal-width bins B_1 = [0, 1/M], B_b = ((b−1)/M, b/M] for b = 2..M (M = ``n_bins``), as in
    LM-Polygraph ``ue_metrics/ece.py`` (Naeini et al. 2015, Guo et al. 2017):

        ECE = Σ_b (|B_b| / n) · |acc(B_b) − conf(B_b)|,

    acc and conf the mean correctness and confidence in the bin; empty bins count 0. Defined
    with one class too; NaN only on empty input. Confidence outside [0, 1] is a ValueError.
    """
    confidence, correct = _finite_rows(confidence, correct)
    return NAN if len(correct) == 0 else _ece(confidence, correct, n_bins)


def brier(confidence: ArrayLike, correct: ArrayLike) -> float:
    """Brier score (Brier 1950): (1/n) Σ_i (confidence_i − correct_i)². Lower is better.

    Defined with one class too; NaN only on empty input.
    """
    confidence, correct = _finite_rows(confidence, correct)
    return NAN if len(correct) == 0 else float(np.mean((confidence - correct) ** 2))


def calibration_metrics(
    scores: ArrayLike, correct: ArrayLike, split_seed: int = 0, held_out: float = 0.5
) -> dict[str, float]:
    """{"ece": …, "brier": …} of the isotonic confidence, fitted on one random part, scored on the other.

    The rows (non-finite ones dropped first) are permuted with
    ``np.random.default_rng(split_seed).permutation(n)``; the first round(held_out · n) are the
    evaluation part, the rest the fitting part for ``calibrated_confidence``; ``ece`` (10 bins)
    and ``brier`` are computed on the evaluation part. Both NaN if either part is empty or the
    fitting part has one class only. Rows are split, not clusters: repeated rows (e.g. of a
    bootstrap resample) can fall on both sides.
    """
    if not 0 < held_out < 1:
        raise ValueError(f"held_out must be in (0, 1), got {held_out}")
    scores, correct = _finite_rows(scores, correct)
    order = np.random.default_rng(split_seed).permutation(len(scores))
    n_eval = int(round(held_out * len(scores)))
    evaluate, fit = order[:n_eval], order[n_eval:]
    if len(evaluate) == 0 or not _both_classes(correct[fit]):
        return {"ece": NAN, "brier": NAN}
    confidence = calibrated_confidence(scores[fit], correct[fit], scores[evaluate])
    truth = correct[evaluate]
    return {"ece": _ece(confidence, truth, 10), "brier": float(np.mean((confidence - truth) ** 2))}


# --- without correctness labels ----------------------------------------------------------------


def spearman(scores: ArrayLike, quality: ArrayLike) -> float:
    """Spearman rank correlation of ``scores`` with a continuous ``quality`` (scipy ``spearmanr``).

    ρ = Pearson correlation of the (average-tie) ranks. Plain correlation of the uncertainty
    with the quality, so a good measure gives a **negative** value (−1 best). NaN with fewer
    than 2 rows or a constant input.
    """
    scores, quality = _finite_rows(scores, quality)
    if len(scores) < 2 or scores.min() == scores.max() or quality.min() == quality.max():
        return NAN
    return float(spearmanr(scores, quality)[0])


def tsu(scores_by_temperature: ArrayLike, temperatures: ArrayLike) -> float:
    """Temperature Sensitivity of Uncertainty (Song et al., Inv-Entropy, NeurIPS 2025 / arXiv 2506.09684, eq. 7).

    Higher is better.

    ``scores_by_temperature[t, q]`` is question q's uncertainty at ``temperatures[t]`` (strictly
    increasing, at least 2). The fraction (in [0, 1]; the paper prints percentages) of questions
    whose uncertainty strictly increases across every consecutive pair of temperatures:

        TSU = (1/|D|) Σ_{x ∈ D} 𝕀( UQ(x, T_1) < UQ(x, T_2) < … < UQ(x, T_n) ).

    The authors' repository (UMDataScienceLab/Uncertainty-Quantification-for-LLMs @ 857e5b5) has
    no TSU code, and eq. 7 was lost in the text conversion of the paper that was read; this follows its
    wording ("how often uncertainty increases with temperature", an indicator over T_1 < … < T_n)
    and its Table 2, where TSU over a temperature range is far below TSU over a pair and binary
    measures score 0 over ranges, i.e. strict, chained increase. A tie counts as not increasing.
    Questions with a non-finite score at any temperature are dropped (one warning). NaN if none
    is left. Use ``lambda s: tsu(s.T, temperatures)`` to bootstrap over questions.
    """
    scores = np.asarray(scores_by_temperature, dtype=float)
    temperatures = np.asarray(temperatures, dtype=float)
    if scores.ndim != 2 or len(temperatures) != scores.shape[0] or len(temperatures) < 2:
        raise ValueError("scores_by_temperature must be [n_temperatures >= 2, n_questions], one row per temperature")
    if not np.all(np.diff(temperatures) > 0):
        raise ValueError("temperatures must be strictly increasing")
    keep = np.isfinite(scores).all(axis=0)
    _warn_dropped(int(np.sum(~keep)), len(keep), "questions")
    if not keep.any():
        return NAN
    return float(np.mean(np.all(np.diff(scores[:, keep], axis=0) > 0, axis=0)))
