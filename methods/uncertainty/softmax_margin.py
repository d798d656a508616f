"""Margin between the two most probable classes of the classifier's softmax."""

from __future__ import annotations

import dataclasses

import numpy as np

from entropy_bench.methods.registry import UNCERTAINTY
from entropy_bench.methods.uncertainty.classifier import ClassifierMeasure


@UNCERTAINTY.register(
    "softmax_margin",
    paper="Scheffer, Decomain & Wrobel (2001), Active Hidden Markov Models for Information Extraction "
          "(margin sampling); a softmax statistic in the sense of Hendrycks & Gimpel (2017)",
    url=None,  # IDA 2001, LNCS 2189; no verified link
)
@dataclasses.dataclass(frozen=True)
class SoftmaxMargin(ClassifierMeasure):
    """``−(p_(1) − p_(2))``, the gap between the two largest probabilities of ``softmax(z)``, negated:
    −1 for a one-hot prediction, 0 when the top two classes tie. With one class the gap is
    ``p_(1) − 0`` (score −1)."""

    def score_probs(self, probs: np.ndarray) -> np.ndarray:
        if probs.shape[-1] == 1:
            return -probs[..., 0]
        top2 = -np.partition(-probs, 1, axis=-1)[..., :2]
        return -(top2[..., 0] - top2[..., 1])
