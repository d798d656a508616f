"""Maximum token entropy of the generated answer."""

from __future__ import annotations

import dataclasses

import numpy as np

from entropy_bench.methods.registry import UNCERTAINTY
from entropy_bench.methods.uncertainty.base import UncertaintyMeasure


@UNCERTAINTY.register(
    "max_token_entropy",
    paper="Fadeeva et al. (2023), LM-Polygraph: Uncertainty Estimation for Language Models (token-entropy aggregates)",
    url="https://arxiv.org/abs/2311.07383",
)
@dataclasses.dataclass(frozen=True)
class MaxTokenEntropy(UncertaintyMeasure):
    """``max_t H(p(· | y_<t, x))``: the most uncertain step of the answer. Where
    ``mean_token_entropy`` dilutes one uncertain digit among confident tokens, the maximum keeps it."""

    def score(self, generation) -> float:
        return float(np.max(generation.entropy))
