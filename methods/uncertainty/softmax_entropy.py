"""Entropy of the classifier's softmax distribution."""

from __future__ import annotations

import dataclasses

import numpy as np

from entropy_bench.methods.registry import UNCERTAINTY
from entropy_bench.methods.uncertainty.classifier import ClassifierMeasure, entropy


@UNCERTAINTY.register(
    "softmax_entropy",
    paper="Hendrycks & Gimpel (2017), A Baseline for Detecting Misclassified and Out-of-Distribution "
          "Examples in Neural Networks (softmax statistics as the baseline); Shannon entropy of the predictive",
    url="https://arxiv.org/abs/1610.02136",
)
@dataclasses.dataclass(frozen=True)
class SoftmaxEntropy(ClassifierMeasure):
    """``H(p) = −Σ_k p_k log p_k`` in nats, ``p = softmax(z)``: 0 for a one-hot prediction, ``log K``
    for the uniform one. Unlike the maximum it reads the whole distribution."""

    def score_probs(self, probs: np.ndarray) -> np.ndarray:
        return entropy(probs)
