"""Classifier measures: their base class and the softmax / entropy / mutual-information math they share.

The classification track provides, as float64 arrays whose rows are the evaluated images:

- ``logits`` [N, K]: the trained model's logits in eval mode (dropout off);
- ``mc_logits`` [T, N, K]: T forward passes of the same model with dropout on (MC dropout);
- ``member_logits`` [M, N, K]: the logits of M independently trained ensemble members;
- ``calibration_logits`` [Nc, K] and ``calibration_labels`` (int64 [Nc]): the model's eval-mode
  logits on a held-out calibration split, and their labels.

A :class:`ClassifierMeasure` maps them to one score per row (higher = more uncertain) and names
the predictive distribution it stands for (:meth:`ClassifierMeasure.predictive`), from which the
track computes that measure's accuracy, NLL, ECE and Brier score.
"""

from __future__ import annotations

import dataclasses
from typing import Any, ClassVar, Mapping

import numpy as np

from entropy_bench.methods.registry import require_choice
from entropy_bench.methods.uncertainty.base import UncertaintyMeasure


def log_softmax(logits: np.ndarray, axis: int = -1) -> np.ndarray:
    """``z − logsumexp(z)`` along ``axis`` in float64, the maximum subtracted first (no overflow)."""
    z = np.asarray(logits, dtype=np.float64)
    shifted = z - np.max(z, axis=axis, keepdims=True)
    return shifted - np.log(np.sum(np.exp(shifted), axis=axis, keepdims=True))


def logsumexp(logits: np.ndarray, axis: int = -1) -> np.ndarray:
    """``log Σ_k exp(z_k)`` along ``axis`` in float64, the maximum subtracted first."""
    z = np.asarray(logits, dtype=np.float64)
    top = np.max(z, axis=axis, keepdims=True)
    return np.squeeze(top, axis=axis) + np.log(np.sum(np.exp(z - top), axis=axis))


def softmax(logits: np.ndarray, axis: int = -1) -> np.ndarray:
    """``p_k = exp(z_k − max z) / Σ_j exp(z_j − max z)`` along ``axis``, in float64."""
    z = np.asarray(logits, dtype=np.float64)
    e = np.exp(z - np.max(z, axis=axis, keepdims=True))
    return e / np.sum(e, axis=axis, keepdims=True)


def entropy(probs: np.ndarray, axis: int = -1) -> np.ndarray:
    """Shannon entropy ``H(p) = −Σ_k p_k log p_k`` in nats along ``axis``, with ``0 · log 0 = 0``."""
    p = np.asarray(probs, dtype=np.float64)
    return -np.sum(np.where(p > 0, p * np.log(np.where(p > 0, p, 1.0)), 0.0), axis=axis)


def mutual_information(probs: np.ndarray) -> np.ndarray:
    """``I = H[mean_t p_t] − mean_t H[p_t]`` over the first axis of ``probs`` [T, N, K], per row [N].

    The mutual information between the label and the model (the dropout mask, the ensemble
    member) — BALD's score (Houlsby et al. 2011; Gal et al. 2017): total entropy minus the
    expected entropy, the disagreement between the T distributions. It is ≥ 0 (H is concave)
    and 0 when all T distributions are equal; round-off below 0 is clipped to 0.
    """
    p = np.asarray(probs, dtype=np.float64)
    return np.maximum(entropy(p.mean(axis=0)) - entropy(p).mean(axis=0), 0.0)


def statistic(stats: Mapping[str, Any], name: str, ndim: int) -> np.ndarray:
    """``stats[name]`` as a finite float64 array of ``ndim`` dimensions with at least one class (the
    last axis), or a ValueError naming the statistic."""
    value = np.asarray(stats[name], dtype=np.float64)
    if value.ndim != ndim or value.shape[-1] == 0:
        raise ValueError(f"statistic {name!r} must be a {ndim}-D array with classes on its last axis, "
                         f"got shape {value.shape}")
    if not np.isfinite(value).all():
        raise ValueError(f"statistic {name!r} has non-finite entries (NaN or ±inf logits)")
    return value


def calibration_split(stats: Mapping[str, Any], n_classes: int) -> tuple[np.ndarray, np.ndarray]:
    """(``calibration_logits`` [Nc, K], ``calibration_labels`` int64 [Nc]), checked against each
    other and against the K classes of ``logits``; a ValueError names the statistic at fault."""
    logits = statistic(stats, "calibration_logits", 2)
    labels = np.asarray(stats["calibration_labels"])
    if logits.shape[1] != n_classes:
        raise ValueError(f"statistic 'calibration_logits' has {logits.shape[1]} classes, 'logits' {n_classes}")
    if labels.shape != (len(logits),) or not np.issubdtype(labels.dtype, np.integer):
        raise ValueError(f"statistic 'calibration_labels' must be {len(logits)} integer labels (one per row "
                         f"of 'calibration_logits'), got dtype {labels.dtype} and shape {labels.shape}")
    if len(labels) == 0:
        raise ValueError("statistic 'calibration_labels' is empty: a calibration split needs examples")
    if labels.min() < 0 or labels.max() >= n_classes:
        raise ValueError(f"statistic 'calibration_labels' must lie in [0, {n_classes}), "
                         f"got {labels.min()}..{labels.max()}")
    return logits, labels.astype(np.int64)


class ClassifierMeasure(UncertaintyMeasure):
    """Base of the classifier measures (not registered).

    ``requires``: the statistics read (default ``logits``). :meth:`predictive` [N, K]: the predictive
    distribution the measure stands for (default ``softmax(logits)``). ``measure(stats)`` [N]:
    one score per row, higher = more uncertain; by default :meth:`score_probs` of the predictive
    distribution, so a confidence-based measure only writes ``score_probs``.
    """

    requires: ClassVar[frozenset[str]] = frozenset({"logits"})

    def predictive(self, stats: Mapping[str, Any]) -> np.ndarray:
        return softmax(statistic(stats, "logits", 2))

    def __call__(self, stats: Mapping[str, Any]) -> np.ndarray:
        return self.score_probs(self.predictive(stats))

    def score_probs(self, probs: np.ndarray) -> np.ndarray:
        """Scores [N] of predictive distributions ``probs`` [N, K]."""
        raise TypeError(f"{type(self).__name__} must implement score_probs or __call__")


QUANTITIES = ("mutual_information", "total_entropy")


@dataclasses.dataclass(frozen=True)
class SampledPredictiveMeasure(ClassifierMeasure):
    """Base of the measures over T sampled predictive distributions ``softmax(z_t)``, the rows of
    the statistic named by ``stacked_logits`` [T, N, K] (MC dropout passes, ensemble members); not registered.

    ``predictive``: the mean ``p̄ = (1/T) Σ_t softmax(z_t)``. ``quantity``:
    ``mutual_information`` — :func:`mutual_information`, ``H[p̄] − (1/T) Σ_t H[p_t]`` (epistemic:
    the T distributions disagree); ``total_entropy`` — ``H[p̄]`` (epistemic + aleatoric).
    """

    quantity: str = "mutual_information"
    stacked_logits: ClassVar[str] = ""

    def __post_init__(self):
        require_choice(self.quantity, QUANTITIES, self.name, "quantity")

    def sampled_probs(self, stats: Mapping[str, Any]) -> np.ndarray:
        """``softmax(z_t)`` [T, N, K] of the statistic named by ``stacked_logits`` (T ≥ 1)."""
        logits = statistic(stats, self.stacked_logits, 3)
        if len(logits) == 0:
            raise ValueError(f"statistic {self.stacked_logits!r} holds no forward passes (shape {logits.shape})")
        return softmax(logits)

    def predictive(self, stats: Mapping[str, Any]) -> np.ndarray:
        return self.sampled_probs(stats).mean(axis=0)

    def __call__(self, stats: Mapping[str, Any]) -> np.ndarray:
        probs = self.sampled_probs(stats)
        if self.quantity == "mutual_information":
            return mutual_information(probs)
        return entropy(probs.mean(axis=0))
