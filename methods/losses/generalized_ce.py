"""Generalized cross-entropy (L_q): a Box–Cox interpolation between cross-entropy and MAE."""

from __future__ import annotations

import dataclasses

import torch

from entropy_bench.methods.losses.base import ClassificationLoss, target_log_prob
from entropy_bench.methods.registry import LOSSES, require


@LOSSES.register(
    "generalized_ce",
    paper="Zhang & Sabuncu (2018), Generalized Cross Entropy Loss for Training Deep Neural Networks with Noisy Labels",
    url="https://arxiv.org/abs/1805.07836",
)
@dataclasses.dataclass(frozen=True)
class GeneralizedCE(ClassificationLoss):
    """The negative Box–Cox transform of the target probability, robust to label noise.

        ℓ_i = (1 − p_{i y_i}^q) / q,   p_i = softmax(z_i),   q ∈ (0, 1]

    As q → 0 this tends to −log p_y (cross-entropy); at q = 1 it is 1 − p_y, half of ``mae``
    (Σ_k |onehot(y)_k − p_k| = 2(1 − p_y)). The paper uses q = 0.7. Formed as
    −expm1(q log p_y) / q, exact for small q. The catalog's comp-sum paper (training-side.md L2,
    Mao, Mohri & Zhong 2023) analyses this family (CE, GCE, MAE).
    """

    q: float = 0.7

    def __post_init__(self):
        super().__post_init__()
        require(0 < self.q <= 1, self.name, "q", f"must be in (0, 1], got {self.q}")

    def rows(self, logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        return -torch.expm1(self.q * target_log_prob(logits, targets)) / self.q
