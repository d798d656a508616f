"""The zero-shot LLM-text detection statistic: log-perplexity minus mean entropy."""

from __future__ import annotations

import dataclasses

import numpy as np

from entropy_bench.methods.registry import UNCERTAINTY
from entropy_bench.methods.uncertainty.base import UncertaintyMeasure


@UNCERTAINTY.register(
    "detection_statistic",
    paper=(
        "Radvand, Abdolmaleki, Mostagir & Tewari (2025), Zero-Shot Statistical Tests for LLM-Generated "
        "Text Detection using Finite Sample Concentration Inequalities"
    ),
    url="https://arxiv.org/abs/2501.02406",
)
@dataclasses.dataclass(frozen=True)
class DetectionStatistic(UncertaintyMeasure):
    """``(1/T) Σ_t [−log p(y_t | y_<t, x) − H(p(· | y_<t, x))]``: log-perplexity minus mean entropy.

    Each term has mean 0 when y_t is drawn from p itself, so on text the model sampled at
    temperature 1 the statistic concentrates near 0, with deviations that shrink as 1/√T
    (the paper's test); greedy text scores below 0 (its tokens are likelier than a draw), and
    text the model finds surprising — such as an answer it would not have given — above 0.
    """

    def score(self, generation) -> float:
        return float(np.mean(-np.asarray(generation.logprob)) - np.mean(generation.entropy))
