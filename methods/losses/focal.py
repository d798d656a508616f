"""Focal loss: cross-entropy down-weighted on well-classified examples."""

from __future__ import annotations

import dataclasses

import torch
import torch.nn.functional as F

from entropy_bench.methods.losses.base import ClassificationLoss, target_log_prob
from entropy_bench.methods.registry import LOSSES, require, require_choice

ACTIVATIONS = ("softmax", "sigmoid")


@LOSSES.register(
    "focal",
    paper="Lin et al. (2017), Focal Loss for Dense Object Detection",
    url="https://arxiv.org/abs/1708.02002",
)
@dataclasses.dataclass(frozen=True)
class Focal(ClassificationLoss):
    """Cross-entropy scaled by (1 − p_t)^γ, so confident correct predictions weigh less.

    ``activation="softmax"`` (the multi-class form; γ = ``gamma``):

        ℓ_i = −(1 − p_{i y_i})^γ log p_{i y_i},   p_i = softmax(z_i)

    γ = 0 is cross-entropy. ``activation="sigmoid"`` is the paper's own form (RetinaNet): each
    class is a binary problem with t_ik = [k = y_i], p_ik = σ(z_ik), p_t = p t + (1 − p)(1 − t),
    α_t = α t + (1 − α)(1 − t) with α = ``alpha`` (no weighting when None), and the row's value is
    the sum over classes:

        ℓ_i = Σ_k α_t (1 − p_t)^γ BCE(z_ik, t_ik)

    — torchvision's ``sigmoid_focal_loss`` summed over the class dimension. α balances a class's
    positives against its negatives, which exist only in the sigmoid form, so the softmax form
    refuses it. 1 − p is taken as −expm1(log p), exact for p near 1.
    """

    gamma: float = 2.0
    alpha: float | None = None
    activation: str = "softmax"

    def __post_init__(self):
        super().__post_init__()
        require(self.gamma >= 0, self.name, "gamma", f"must be >= 0, got {self.gamma}")
        require_choice(self.activation, ACTIVATIONS, self.name, "activation")
        require(self.alpha is None or self.activation == "sigmoid", self.name, "alpha",
                "weights positives against negatives, which only activation='sigmoid' has")
        require(self.alpha is None or 0 <= self.alpha <= 1, self.name, "alpha", f"must be in [0, 1], got {self.alpha}")

    def rows(self, logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        if self.activation == "softmax":
            log_p = target_log_prob(logits, targets)
            return (-torch.expm1(log_p)).pow(self.gamma) * -log_p
        onehot = F.one_hot(targets, logits.shape[-1]).to(logits.dtype)
        bce = F.binary_cross_entropy_with_logits(logits, onehot, reduction="none")
        p = logits.sigmoid()
        p_t = p * onehot + (1 - p) * (1 - onehot)
        loss = (1 - p_t) ** self.gamma * bce
        if self.alpha is not None:
            loss = (self.alpha * onehot + (1 - self.alpha) * (1 - onehot)) * loss
        return loss.sum(dim=-1)
