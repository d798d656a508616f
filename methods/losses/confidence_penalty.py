"""Confidence penalty: cross-entropy minus β times the entropy of the prediction."""

from __future__ import annotations

import dataclasses

import torch

from entropy_bench.methods.losses.base import ClassificationLoss, target_log_prob
from entropy_bench.methods.registry import LOSSES, require


@LOSSES.register(
    "confidence_penalty",
    paper="Pereyra et al. (2017), Regularizing Neural Networks by Penalizing Confident Output Distributions",
    url="https://arxiv.org/abs/1701.06548",
)
@dataclasses.dataclass(frozen=True)
class ConfidencePenalty(ClassificationLoss):
    """Cross-entropy with an entropy bonus, penalising low-entropy (confident) predictions.

        ℓ_i = −log p_{i y_i} − β H(p_i),   H(p) = −Σ_k p_k log p_k,   p_i = softmax(z_i)

    β = ``entropy_coef`` (the paper sweeps it per task). It is label smoothing's mirror image:
    label smoothing adds KL(u ‖ p) up to a constant, this subtracts H(p) = log C − KL(p ‖ u).
    β = 0 is cross-entropy. The logits must be finite (0 · log 0 at −inf is NaN).
    """

    entropy_coef: float = 0.1

    def __post_init__(self):
        super().__post_init__()
        require(self.entropy_coef >= 0, self.name, "entropy_coef", f"must be >= 0, got {self.entropy_coef}")

    def rows(self, logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        log_p = logits.log_softmax(dim=-1)
        entropy = -(log_p.exp() * log_p).sum(dim=-1)
        return -target_log_prob(logits, targets) - self.entropy_coef * entropy
