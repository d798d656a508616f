"""Split-conformal Adaptive Prediction Sets (APS): the size of each row's prediction set."""

from __future__ import annotations

import dataclasses
import math
from fractions import Fraction
from typing import Any, ClassVar, Mapping

import numpy as np

from entropy_bench.methods.registry import UNCERTAINTY, require
from entropy_bench.methods.uncertainty.classifier import ClassifierMeasure, calibration_split, softmax, statistic


def mass_above(probs: np.ndarray) -> np.ndarray:
    """``S_k = Σ_{j: p_j > p_k} p_j`` [N, K]: the probability of the classes strictly more probable
    than k (0 for the top class; classes tied with k do not count). Summed in descending order of
    probability, as a cumulative sum, so that the calibration scores and the sets compare equal
    masses equal."""
    n, k = probs.shape
    order = np.argsort(-probs, axis=1, kind="stable")
    sorted_probs = np.take_along_axis(probs, order, axis=1)
    before = np.concatenate([np.zeros((n, 1)), np.cumsum(sorted_probs, axis=1)[:, :-1]], axis=1)
    # each sorted position → the first position of its run of equal probabilities
    starts = np.concatenate([np.ones((n, 1), bool), sorted_probs[:, 1:] != sorted_probs[:, :-1]], axis=1)
    first = np.maximum.accumulate(np.where(starts, np.arange(k), 0), axis=1)
    out = np.empty_like(probs)
    np.put_along_axis(out, order, np.take_along_axis(before, first, axis=1), axis=1)
    return out


def aps_scores(probs: np.ndarray, labels: np.ndarray, u: np.ndarray | None = None) -> np.ndarray:
    """APS conformity scores ``E_i = S_{y_i} + u_i · p_{y_i}`` of the labelled rows (``S``:
    :func:`mass_above`), Romano et al.'s generalised inverse quantile.

    Non-randomised (``u`` None): ``u_i = 0``, ``E_i = Σ_{j: p_j > p_{y_i}} p_j``, the mass of the
    classes strictly above the label, *not* counting the label's own (0 when the label is the top
    class). Randomised: ``u_i`` ~ U[0, 1] given, one per row.
    """
    rows = np.arange(len(labels))
    above = mass_above(probs)[rows, labels]
    return above if u is None else above + np.asarray(u, dtype=np.float64) * probs[rows, labels]


def conformal_quantile(scores: np.ndarray, alpha: float) -> float:
    """The split-conformal threshold ``τ̂``: the ``k = ⌈(n + 1)(1 − α)⌉``-th smallest of the n scores,
    i.e. their empirical quantile at level ``k / n`` (numpy's ``method="lower"`` — MAPIE's), and
    ``+inf`` where ``k > n`` (too few calibration rows for 1 − α: every set is all K classes).
    ``k`` is computed exactly in rationals from the float ``alpha`` (no round-off across an integer).
    """
    n = len(scores)
    k = math.ceil((n + 1) * (1 - Fraction(alpha)))
    if k > n:
        return math.inf
    return float(np.partition(np.asarray(scores, dtype=np.float64), k - 1)[k - 1])


def aps_sets(probs: np.ndarray, threshold: float, u: np.ndarray | None = None) -> np.ndarray:
    """The APS prediction sets ``C(x) = {k : S_k + u · p_k ≤ τ̂}``, a boolean [N, K] (True: class k is
    in the row's set) — the classes whose :func:`aps_scores` would be ≤ τ̂, the same float sums.

    Non-randomised (``u`` None, u = 0): ``S_k ≤ τ̂`` — the classes in descending order of probability
    up to and including the first whose cumulative probability reaches τ̂, and every class tied
    with it in probability (a set depends on the probabilities, not on an order among ties); the
    top class (S = 0) always, so a set is never empty. Randomised (``u`` [N] ~ U[0, 1], one per
    row): that last class is dropped with probability ``(Σ_{j ≤ L} p_(j) − τ̂) / p_(L)``, Romano et
    al.'s ``V``, so a set may be empty. Either way the label is in its set iff its score is ≤ τ̂,
    hence marginal coverage ≥ 1 − α on exchangeable data (exactly ``k / (n + 1)`` in expectation
    for the randomised sets and continuous probabilities), ties or not.
    """
    above = mass_above(probs)
    if u is None:
        return above <= threshold
    return above + np.asarray(u, dtype=np.float64)[:, None] * probs <= threshold


@UNCERTAINTY.register(
    "conformal_aps",
    paper="Romano, Sesia & Candès (2020), Classification with Valid and Adaptive Coverage (APS)",
    url="https://arxiv.org/abs/2006.02544",
)
@dataclasses.dataclass(frozen=True)
class ConformalAPS(ClassifierMeasure):
    """The size of each row's split-conformal APS set at miscoverage ``alpha``, calibrated on the
    calibration split: a larger set, a more uncertain row. Sets: :func:`aps_sets` of
    ``softmax(logits)`` at the threshold :func:`conformal_quantile` of the :func:`aps_scores` of
    ``softmax(calibration_logits)`` and ``calibration_labels``.

    Non-randomised by default (``randomized=False``, u = 0), as the authors' code builds it
    (github.com/msesia/arc, ``calibrate_scores`` and ``predict_sets`` without ``epsilon``): a
    calibration score is the mass of the classes above the label, without the label's own, and a
    set keeps the class whose cumulative probability reaches the threshold — coverage ≥ 1 − α,
    close to it for continuous probabilities, and never an empty set. Counting the label's own
    probability as well, as Angelopoulos & Bates' introduction does, covers more than asked:
    0.97 for 0.9 on the synthetic data of tests/methods/test_classifier_measures.py, with sets
    40 % larger (MAPIE's ``include_last_label=True`` counts a uniform random fraction of it: 0.93).
    ``randomized=True`` (the paper's exact-coverage version; a set may be empty, size 0) draws one
    U[0, 1] per calibration row, then one per row, from ``numpy.random.default_rng(seed)``;
    ``seed`` is required there and refused otherwise.
    The predictive distribution is ``softmax(logits)``.
    """

    alpha: float = 0.1
    randomized: bool = False
    seed: int | None = None
    requires: ClassVar[frozenset[str]] = frozenset({"logits", "calibration_logits", "calibration_labels"})

    def __post_init__(self):
        require(0 < self.alpha < 1, self.name, "alpha", f"must lie in (0, 1), got {self.alpha}")
        if self.randomized:
            require(self.seed is not None, self.name, "seed", "is required with randomized=true")
        else:
            require(self.seed is None, self.name, "seed", "applies to randomized=true only")

    @property
    def params(self) -> dict[str, Any]:
        """The id's parameters: ``seed`` only where it applies (randomized)."""
        params = super().params
        if self.seed is None:
            del params["seed"]
        return params

    def sets(self, stats: Mapping[str, Any]) -> np.ndarray:
        """The prediction sets, boolean [N, K]."""
        probs = softmax(statistic(stats, "logits", 2))
        cal_logits, cal_labels = calibration_split(stats, probs.shape[1])
        cal_u = test_u = None
        if self.randomized:
            rng = np.random.default_rng(self.seed)
            cal_u, test_u = rng.random(len(cal_labels)), rng.random(len(probs))
        threshold = conformal_quantile(aps_scores(softmax(cal_logits), cal_labels, cal_u), self.alpha)
        return aps_sets(probs, threshold, test_u)

    def __call__(self, stats: Mapping[str, Any]) -> np.ndarray:
        return self.sets(stats).sum(axis=1).astype(np.float64)
