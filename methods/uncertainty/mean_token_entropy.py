"""Mean token entropy of the generated answer."""

from __future__ import annotations

import dataclasses

import numpy as np

from entropy_bench.methods.registry import UNCERTAINTY
from entropy_bench.methods.uncertainty.base import UncertaintyMeasure


@UNCERTAINTY.register(
    "mean_token_entropy",
    paper="Malinin & Gales (2021), Uncertainty Estimation in Autoregressive Structured Prediction",
    url="https://arxiv.org/abs/2002.07650",
)
@dataclasses.dataclass(frozen=True)
class MeanTokenEntropy(UncertaintyMeasure):
    """``(1/T) Σ_t H(p(· | y_<t, x))``: the model's predictive entropy averaged over generated steps."""

    def score(self, generation) -> float:
        return float(np.mean(generation.entropy))
