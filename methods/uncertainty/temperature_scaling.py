"""Temperature scaling: one temperature fitted on a calibration split, then a confidence score."""

from __future__ import annotations

import dataclasses
import math
from typing import Any, ClassVar, Mapping

import numpy as np
import scipy.optimize

from entropy_bench.methods.registry import UNCERTAINTY, require_choice
from entropy_bench.methods.uncertainty.classifier import (
    ClassifierMeasure, calibration_split, entropy, log_softmax, softmax, statistic,
)
from entropy_bench.methods.uncertainty.max_softmax_prob import max_prob_score

#: The search range of the temperature, [1/100, 100], and the tolerance on log T.
T_MIN, T_MAX = 1e-2, 1e2
LOG_T_TOL = 1e-9

SCORES = {"max_softmax_prob": max_prob_score, "softmax_entropy": entropy}


def temperature_nll(logits: np.ndarray, labels: np.ndarray, temperature: float) -> float:
    """Mean negative log-likelihood ``−(1/n) Σ_i log softmax(z_i / T)_{y_i}``."""
    logp = log_softmax(np.asarray(logits, dtype=np.float64) / temperature)
    return float(-np.mean(logp[np.arange(len(labels)), labels]))


def fit_temperature(logits: np.ndarray, labels: np.ndarray) -> float:
    """The temperature ``T̂ = argmin_T NLL(softmax(z / T), y)`` over ``T ∈ [1/100, 100]``.

    The NLL is convex in ``β = 1/T`` (per row, a log-sum-exp of functions linear in β minus a
    linear function), hence unimodal in ``log T``: bounded Brent search
    (``scipy.optimize.minimize_scalar``, method ``bounded``) over ``log T ∈ [log 1/100, log 100]``
    with ``xatol = 1e-9`` on log T (scipy adds a relative 1.5e-8 · |log T|): T to within about
    1e-7 of its value. Where the minimum lies outside the range — calibration logits
    that are all right and keep gaining likelihood as T → 0, or carry no information (T → ∞) —
    the result is within the tolerance of the nearest bound.
    """
    logits = np.asarray(logits, dtype=np.float64)
    labels = np.asarray(labels, dtype=np.int64)
    result = scipy.optimize.minimize_scalar(
        lambda log_t: temperature_nll(logits, labels, math.exp(log_t)),
        bounds=(math.log(T_MIN), math.log(T_MAX)), method="bounded", options={"xatol": LOG_T_TOL},
    )
    return float(math.exp(result.x))


@UNCERTAINTY.register(
    "temperature_scaling",
    paper="Guo, Pleiss, Sun & Weinberger (2017), On Calibration of Modern Neural Networks",
    url="https://arxiv.org/abs/1706.04599",
)
@dataclasses.dataclass(frozen=True)
class TemperatureScaling(ClassifierMeasure):
    """The model's logits divided by the temperature :func:`fit_temperature` fits on the calibration
    split, ``p = softmax(z / T̂)``, scored by ``score``: ``max_softmax_prob`` (``1 − max_k p_k``)
    or ``softmax_entropy`` (``H(p)``). The predictive distribution is ``softmax(z / T̂)``.

    One T for all classes leaves the argmax, hence accuracy, unchanged; it changes the
    probabilities (NLL, ECE, Brier) and, with ``softmax_entropy``, the ranking of the scores.
    """

    score: str = "max_softmax_prob"
    requires: ClassVar[frozenset[str]] = frozenset({"logits", "calibration_logits", "calibration_labels"})

    def __post_init__(self):
        require_choice(self.score, tuple(SCORES), self.name, "score")

    def temperature(self, stats: Mapping[str, Any]) -> float:
        """``T̂`` fitted on ``calibration_logits`` and ``calibration_labels``."""
        n_classes = statistic(stats, "logits", 2).shape[1]
        return fit_temperature(*calibration_split(stats, n_classes))

    def predictive(self, stats: Mapping[str, Any]) -> np.ndarray:
        return softmax(statistic(stats, "logits", 2) / self.temperature(stats))

    def score_probs(self, probs: np.ndarray) -> np.ndarray:
        return SCORES[self.score](probs)
