"""Poly-1: cross-entropy plus ε times its leading polynomial term."""

from __future__ import annotations

import dataclasses

import torch

from entropy_bench.methods.losses.base import ClassificationLoss, target_log_prob
from entropy_bench.methods.registry import LOSSES, require


@LOSSES.register(
    "poly1",
    paper="Leng et al. (2022), PolyLoss: A Polynomial Expansion Perspective of Classification Loss Functions",
    url="https://arxiv.org/abs/2204.12511",
)
@dataclasses.dataclass(frozen=True)
class Poly1(ClassificationLoss):
    """Cross-entropy with the weight of its first Taylor term in (1 − p_t) raised by ε.

    −log p_t = Σ_{j≥1} (1 − p_t)^j / j; Poly-1 adds ε = ``epsilon`` to the first coefficient:

        ℓ_i = −log p_{i y_i} + ε (1 − p_{i y_i}),   p_i = softmax(z_i)

    ε = 0 is cross-entropy; ε ≥ −1 keeps the first coefficient non-negative (the paper's
    constraint). The paper tunes ε per task. 1 − p is taken as −expm1(log p).
    """

    epsilon: float = 1.0

    def __post_init__(self):
        super().__post_init__()
        require(self.epsilon >= -1, self.name, "epsilon", f"must be >= -1, got {self.epsilon}")

    def rows(self, logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        log_p = target_log_prob(logits, targets)
        return -log_p - self.epsilon * torch.expm1(log_p)
