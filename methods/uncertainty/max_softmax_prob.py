"""Maximum softmax probability (MSP): the classifier's confidence in its top class."""

from __future__ import annotations

import dataclasses

import numpy as np

from entropy_bench.methods.registry import UNCERTAINTY
from entropy_bench.methods.uncertainty.classifier import ClassifierMeasure


def max_prob_score(probs: np.ndarray) -> np.ndarray:
    """``1 − max_k p_k`` per row of ``probs`` [N, K]: 0 for a one-hot prediction, at most ``1 − 1/K``."""
    return 1.0 - np.max(probs, axis=-1)


@UNCERTAINTY.register(
    "max_softmax_prob",
    paper="Hendrycks & Gimpel (2017), A Baseline for Detecting Misclassified and Out-of-Distribution "
          "Examples in Neural Networks",
    url="https://arxiv.org/abs/1610.02136",
)
@dataclasses.dataclass(frozen=True)
class MaxSoftmaxProb(ClassifierMeasure):
    """``1 − max_k softmax(z)_k``: the model's probability that its top class is wrong.

    The paper's baseline scores confidence ``max_k p_k``; its complement (not its negation) is the
    uncertainty, the same ranking, kept in [0, 1 − 1/K].
    """

    def score_probs(self, probs: np.ndarray) -> np.ndarray:
        return max_prob_score(probs)
