"""Predictive entropy of the answer distribution, estimated by Monte Carlo over samples."""

from __future__ import annotations

import dataclasses
from typing import Any, ClassVar, Mapping

import numpy as np

from entropy_bench.methods.registry import UNCERTAINTY
from entropy_bench.methods.uncertainty.base import UncertaintyMeasure


def sequence_entropy(logprobs: list[list[float]], normalize: bool) -> float:
    """``−(1/n) Σ_i log P(s_i)`` over n samples, with ``log P(s_i) = Σ_t log p(s_it | s_i<t, x)``,
    divided by the sample's length T_i when ``normalize``."""
    totals = [np.sum(lp) / (len(lp) if normalize else 1) for lp in logprobs]
    return float(-np.mean(totals))


@UNCERTAINTY.register(
    "predictive_entropy",
    paper="Malinin & Gales (2021), Uncertainty Estimation in Autoregressive Structured Prediction",
    url="https://arxiv.org/abs/2002.07650",
)
@dataclasses.dataclass(frozen=True)
class PredictiveEntropy(UncertaintyMeasure):
    """H(Y | x) ≈ −(1/n) Σ_i log P(s_i | x): the Monte Carlo estimate over the cell's n samples
    (an unbiased estimate of the sequence entropy when the samples are drawn from the model at
    temperature 1). ``normalize``: each log P(s_i) divided by the sample's length (the
    length-normalised estimate). LM-Polygraph's ``MonteCarloSequenceEntropy`` and
    ``MonteCarloNormalizedSequenceEntropy`` compute the same two numbers from their samples.
    """

    normalize: bool = False
    requires: ClassVar[frozenset[str]] = frozenset({"samples"})

    def __call__(self, stats: Mapping[str, Any]) -> np.ndarray:
        return np.array([sequence_entropy([s.logprob for s in row], self.normalize) for row in stats["samples"]])
