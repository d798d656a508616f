"""Free energy of the classifier's logits (energy-based OOD detection)."""

from __future__ import annotations

import dataclasses
from typing import Any, Mapping

import numpy as np

from entropy_bench.methods.registry import UNCERTAINTY, require
from entropy_bench.methods.uncertainty.classifier import ClassifierMeasure, logsumexp, statistic


def energy_score(logits: np.ndarray, temperature: float) -> np.ndarray:
    """``E(x; T) = −T · log Σ_k exp(z_k / T)`` per row of ``logits`` [N, K]."""
    return -temperature * logsumexp(np.asarray(logits, dtype=np.float64) / temperature)


@UNCERTAINTY.register(
    "energy",
    paper="Liu, Wang, Owens & Li (2020), Energy-based Out-of-distribution Detection",
    url="https://arxiv.org/abs/2010.03759",
)
@dataclasses.dataclass(frozen=True)
class Energy(ClassifierMeasure):
    """The free energy ``E(x; T) = −T · logsumexp(z / T)``: low (very negative) for inputs the model
    fits, high for out-of-distribution ones. Unlike the softmax it reads the logits' scale, not only
    their differences: adding c to every logit lowers E by c. ``temperature`` T > 0 (the paper: 1).
    The predictive distribution is ``softmax(z)``.
    """

    temperature: float = 1.0

    def __post_init__(self):
        require(self.temperature > 0, self.name, "temperature", f"must be positive, got {self.temperature}")

    def __call__(self, stats: Mapping[str, Any]) -> np.ndarray:
        return energy_score(statistic(stats, "logits", 2), self.temperature)
