"""Metrics of a classifier's predictive distributions, and OOD detection on the mixed set.

Inputs: ``probs`` float [N, K], each row a predictive distribution over K classes, and
``labels`` int [N] in [0, K). The module holds:

- ``accuracy``, ``nll``, ``brier``: top-1 accuracy, negative log-likelihood, multiclass Brier;
- calibration: ``ece`` (top-label, 15 equal-width bins as torchmetrics, or equal-mass bins),
  ``top_label_ece`` (the same from precomputed confidence and correctness) and ``reliability``
  (the per-bin table behind a reliability diagram);
- (selective prediction — AURC of a score against top-1 correctness — is
  :func:`entropy_bench.metrics.uq.aurc`, shared with the LLM measures;)
- OOD detection: ``ood_auroc`` and ``fpr_at_tpr`` of an uncertainty score over the **mixed**
  in-distribution + OOD set (TorchUncertainty's rule: never computed on OOD rows alone).

Conventions, as in ``metrics.uq``: array-likes in, a Python float out (``reliability``: a dict of arrays),
so each works as the ``statistic`` of ``metrics.bootstrap.bootstrap_ci`` (rows of ``probs`` are
resampled together with ``labels``). Rows with a non-finite value (in a ``probs`` row, or a
score) are dropped, with one ``RuntimeWarning`` per call saying how many; a metric of an empty
input is NaN. Malformed input is a ``ValueError`` naming the argument: ``probs`` not [N, K],
with a negative entry or a row not summing to 1 within 1e-6; ``labels`` not integers in
[0, K); lengths that differ; an OOD metric whose finite rows lack either group.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike

from entropy_bench.metrics import uq
from entropy_bench.metrics.uq import NAN, _finite_rows, _tie_averaged, _warn_dropped

SUM_TOLERANCE = 1e-6
BINNINGS = ("equal_width", "adaptive")


# --- input hygiene ---------------------------------------------------------------------------


def _checked(probs: ArrayLike, labels: ArrayLike) -> tuple[np.ndarray, np.ndarray]:
    """``probs`` [n, K] float and ``labels`` [n] int, validated, without the rows where a prob is
    non-finite (one warning)."""
    probs = np.asarray(probs, dtype=float)
    labels = np.asarray(labels)
    if probs.ndim != 2 or probs.shape[1] < 1:
        raise ValueError(f"probs must be a 2-d [N, K] array with K >= 1, got shape {probs.shape}")
    n, k = probs.shape
    if labels.ndim != 1 or len(labels) != n:
        raise ValueError(f"labels must be a 1-d array with one label per row of probs ({n}), got shape {labels.shape}")
    if labels.size and labels.dtype.kind not in "iu":
        raise ValueError(f"labels must be integers, got dtype {labels.dtype}")
    labels = labels.astype(int)
    if labels.size and (labels.min() < 0 or labels.max() >= k):
        raise ValueError(f"labels must lie in [0, {k}) (K = probs.shape[1]), got [{labels.min()}, {labels.max()}]")
    keep = np.isfinite(probs).all(axis=1)
    _warn_dropped(int(np.sum(~keep)), n, stacklevel=4)
    probs, labels = probs[keep], labels[keep]
    if (probs < 0).any():
        raise ValueError(f"probs must be non-negative, got a minimum of {probs.min()}")
    off = np.abs(probs.sum(axis=1) - 1)
    if (off > SUM_TOLERANCE).any():
        row = int(np.argmax(off))
        raise ValueError(f"probs rows must sum to 1 within {SUM_TOLERANCE}; a row sums to {probs[row].sum()!r}")
    return probs, labels


def _top_label(probs: np.ndarray, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Confidence max_k p_ik and correctness (argmax_k p_ik == y_i, first index on ties) as floats."""
    return probs.max(axis=1), (probs.argmax(axis=1) == labels).astype(float)


# --- accuracy and proper scores --------------------------------------------------------------


def accuracy(probs: ArrayLike, labels: ArrayLike) -> float:
    """Top-1 accuracy: (1/N) Σ_i 1[argmax_k p_ik = y_i]. Ties go to the first index (``np.argmax``).

    NaN on empty input.
    """
    probs, labels = _checked(probs, labels)
    return NAN if len(labels) == 0 else float(np.mean(probs.argmax(axis=1) == labels))


def nll(probs: ArrayLike, labels: ArrayLike) -> float:
    """Negative log-likelihood (log loss) of the labels: (1/N) Σ_i −log p_{i, y_i}, in nats. Lower is better.

    Not clipped: a label given probability 0 makes the NLL ``inf`` (scikit-learn's ``log_loss``
    clips to [eps, 1 − eps] instead, so it stays finite). NaN on empty input.
    """
    probs, labels = _checked(probs, labels)
    if len(labels) == 0:
        return NAN
    with np.errstate(divide="ignore"):
        return float(-np.mean(np.log(probs[np.arange(len(labels)), labels])))


def brier(probs: ArrayLike, labels: ArrayLike) -> float:
    """Multiclass Brier score (Brier 1950): (1/N) Σ_i Σ_k (p_ik − 1[y_i = k])², in [0, 2]. Lower is better.

    The original, unhalved definition: scikit-learn ≥ 1.7 ``brier_score_loss(labels, probs,
    labels=range(K), scale_by_half=False)``. (Its default ``scale_by_half="auto"`` halves the
    score when K < 3, so for two classes it gives half of this.) NaN on empty input.
    Not :func:`entropy_bench.metrics.uq.brier`, which scores a binary confidence of being right.
    """
    probs, labels = _checked(probs, labels)
    if len(labels) == 0:
        return NAN
    onehot = np.eye(probs.shape[1])[labels]
    return float(np.mean(np.sum((probs - onehot) ** 2, axis=1)))


# --- calibration -----------------------------------------------------------------------------


def _equal_width_bins(confidence: np.ndarray, n_bins: int) -> np.ndarray:
    """Each confidence's bin in 0..M (M = ``n_bins``): bin b < M is [b/M, (b+1)/M), bin M is {1}."""
    return np.searchsorted(np.arange(n_bins + 1) / n_bins, confidence, side="right") - 1


def _ece(confidence: np.ndarray, correct: np.ndarray, n_bins: int, binning: str) -> float:
    if binning == "equal_width":
        gap = np.bincount(_equal_width_bins(confidence, n_bins), weights=correct - confidence, minlength=n_bins + 1)
        return float(np.abs(gap).sum() / len(correct))
    sorted_confidence, sorted_correct = np.sort(confidence), _tie_averaged(confidence, correct)
    gaps = [np.sum(sorted_correct[g] - sorted_confidence[g])
            for g in np.array_split(np.arange(len(correct)), n_bins) if len(g)]
    return float(np.abs(gaps).sum() / len(correct))


def _check_ece_arguments(n_bins: int, binning: str) -> None:
    if binning not in BINNINGS:
        raise ValueError(f"binning must be one of {BINNINGS}, got {binning!r}")
    if not isinstance(n_bins, (int, np.integer)) or isinstance(n_bins, bool) or n_bins < 1:
        raise ValueError(f"n_bins must be a positive integer, got {n_bins!r}")


def top_label_ece(confidence: ArrayLike, correct: ArrayLike, n_bins: int = 15, binning: str = "equal_width") -> float:
    """Expected calibration error of top-label ``confidence`` c_i (in [0, 1]) and ``correct`` a_i (0 or 1).

    Guo et al. 2017, "On Calibration of Modern Neural Networks": the rows are grouped into
    bins B_b and

        ECE = Σ_b (|B_b| / N) · |acc(B_b) − conf(B_b)|,

    acc and conf the mean a_i and c_i in the bin; empty bins count 0. Lower is better; NaN on
    empty input; rows with a non-finite value dropped (one warning). ``binning`` (M = ``n_bins``):

    - ``"equal_width"``: torchmetrics' ``MulticlassCalibrationError(num_classes=K, n_bins=M,
      norm="l1")`` convention (``_binning_bucketize``: ``torch.bucketize(c, linspace(0, 1, M+1),
      right=True) − 1``): **left-closed** bins [b/M, (b+1)/M), b = 0..M−1, and a confidence of
      exactly 1.0 in an (M+1)-th bin of its own (so a confident 1.0 is not averaged with
      0.95). Edges here are the correctly rounded float64 b/M; torchmetrics casts confidences
      to float32 and builds float32 edges with ``torch.linspace``, some of which are 1 ulp off
      b/M (with 15 bins, on the test machine: 0.2, 0.4 and 7/15 sit an ulp above), so a
      confidence exactly on such an edge lands one bin lower there, as does a float64
      confidence within float32 rounding of an edge or of 1. Elsewhere the two agree to
      float32 rounding. (Not :func:`entropy_bench.metrics.uq.ece`, whose bins are right-closed
      as LM-Polygraph's.)
    - ``"adaptive"``: equal-mass bins (Nixon et al. 2019, "Measuring Calibration in Deep
      Learning"; top-label, one M-quantile split): rows sorted by confidence, split into M
      contiguous groups of sizes differing by at most one (``np.array_split``: the first N mod M
      groups hold one more row); groups that are empty when N < M count 0. Ties: rows with
      equal confidence are exchangeable, so each contributes the mean correctness of its tie
      group (``uq._tie_averaged``); the result does not depend on the row order, and without
      ties it is the plain split.

    Any other ``binning`` is a ValueError, as are confidences outside [0, 1] and correctness
    other than 0/1.
    """
    _check_ece_arguments(n_bins, binning)
    confidence, correct = (np.asarray(a, dtype=float).reshape(-1) for a in (confidence, correct))
    if len(confidence) != len(correct):
        raise ValueError(f"confidence and correct differ in length: {len(confidence)} and {len(correct)}")
    confidence, correct = _finite_rows(confidence, correct)
    if len(correct) and (confidence.min() < 0 or confidence.max() > 1):
        raise ValueError(f"confidence must lie in [0, 1], got [{confidence.min()}, {confidence.max()}]")
    if not np.isin(correct, [0, 1]).all():
        raise ValueError("correct must be 0 or 1")
    return NAN if len(correct) == 0 else _ece(confidence, correct, n_bins, binning)


def ece(probs: ArrayLike, labels: ArrayLike, n_bins: int = 15, binning: str = "equal_width") -> float:
    """Top-label ECE of a classifier: :func:`top_label_ece` of c_i = max_k p_ik and
    a_i = 1[argmax_k p_ik = y_i] (first index on ties), with its bins (``binning`` "equal_width",
    torchmetrics' 15 left-closed bins plus {1.0}, or "adaptive", equal-mass). Lower is better.
    """
    _check_ece_arguments(n_bins, binning)
    probs, labels = _checked(probs, labels)
    return NAN if len(labels) == 0 else _ece(*_top_label(probs, labels), n_bins, binning)


def reliability(probs: ArrayLike, labels: ArrayLike, n_bins: int = 15) -> dict[str, np.ndarray]:
    """Top-label reliability table over the equal-width bins of :func:`top_label_ece` (M = ``n_bins``).

    M + 1 bins: [b/M, (b+1)/M) for b = 0..M−1, and a last bin holding the confidences equal to 1.
    Keys: ``edges`` (M + 2 values 0, 1/M, …, 1, 1: bin b spans edges[b] to edges[b+1], the
    last one the single point 1), and per bin ``confidence`` (mean max_k p_ik) and ``accuracy``
    (mean 1[argmax = label]), NaN when the bin is empty, and ``count`` (rows, int); so that
    ECE = Σ_{count>0} (count / N) · |accuracy − confidence|.
    """
    _check_ece_arguments(n_bins, "equal_width")
    probs, labels = _checked(probs, labels)
    confidence, correct = _top_label(probs, labels)
    bins = _equal_width_bins(confidence, n_bins)
    count = np.bincount(bins, minlength=n_bins + 1)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean_confidence = np.bincount(bins, weights=confidence, minlength=n_bins + 1) / count
        mean_correct = np.bincount(bins, weights=correct, minlength=n_bins + 1) / count
    edges = np.r_[np.arange(n_bins + 1) / n_bins, 1.0]
    return {"edges": edges, "confidence": mean_confidence, "accuracy": mean_correct, "count": count}


# --- OOD detection on the mixed set ----------------------------------------------------------


def _mixed(scores: ArrayLike, is_ood: ArrayLike) -> tuple[np.ndarray, np.ndarray]:
    """Finite ``scores`` and boolean ``is_ood`` (one warning if rows are dropped); ValueError
    unless both the OOD and the in-distribution group are non-empty."""
    scores = np.asarray(scores, dtype=float).reshape(-1)
    is_ood = np.asarray(is_ood).reshape(-1)
    if len(scores) != len(is_ood):
        raise ValueError(f"scores and is_ood differ in length: {len(scores)} and {len(is_ood)}")
    if not np.isin(is_ood, [0, 1]).all():
        raise ValueError("is_ood must be boolean (or 0/1)")
    keep = np.isfinite(scores)
    _warn_dropped(int(np.sum(~keep)), len(keep), stacklevel=4)
    scores, is_ood = scores[keep], is_ood[keep].astype(bool)
    n_ood = int(is_ood.sum())
    if n_ood == 0 or n_ood == len(is_ood):
        raise ValueError(
            "OOD metrics are defined on the mixed in-distribution + OOD set, got "
            f"{n_ood} OOD and {len(is_ood) - n_ood} in-distribution rows with a finite score")
    return scores, is_ood


def ood_auroc(scores: ArrayLike, is_ood: ArrayLike) -> float:
    """AUROC of uncertainty ``scores`` for detecting OOD rows in the mixed ID + OOD set (Hendrycks & Gimpel 2017).

    OOD rows are the positives, higher score = more likely OOD:
    P(score of a random OOD row > score of a random ID row), ties counting ½ (scikit-learn
    ``roc_auc_score(is_ood, scores)``; computed by :func:`entropy_bench.metrics.uq.auroc` with
    ``correct = ~is_ood``). 0.5 is chance, 1 perfect. A ValueError when the finite rows are
    all OOD or all in-distribution: the metric exists only on the mixed set.
    """
    scores, is_ood = _mixed(scores, is_ood)
    return uq.auroc(scores, ~is_ood)


def fpr_at_tpr(scores: ArrayLike, is_ood: ArrayLike, tpr: float = 0.95) -> float:
    """FPR at ``tpr`` TPR (FPR@95 by default, as in Liang et al. 2018, ODIN). Lower is better.

    A row is flagged as OOD when its score ≥ t. With m OOD rows, the threshold t* is the
    largest t that flags at least a ``tpr`` fraction of them: the k-th largest OOD score, k the
    smallest integer with k / m ≥ ``tpr`` (so ties at t* flag every tied row). The result is
    the fraction of in-distribution rows flagged, #{ID: score ≥ t*} / n_ID: the FPR of the
    first point of scikit-learn's ``roc_curve(is_ood, scores)`` whose TPR ≥ ``tpr``.
    ``tpr`` must be in (0, 1]. A ValueError when the finite rows are all OOD or all
    in-distribution, as :func:`ood_auroc`.
    """
    if not 0 < tpr <= 1:
        raise ValueError(f"tpr must be in (0, 1], got {tpr}")
    scores, is_ood = _mixed(scores, is_ood)
    ood_desc = np.sort(scores[is_ood])[::-1]
    m = len(ood_desc)
    k = int(np.argmax(np.arange(1, m + 1) / m >= tpr)) + 1
    return float(np.mean(scores[~is_ood] >= ood_desc[k - 1]))
