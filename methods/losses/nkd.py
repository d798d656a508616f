"""Normalized knowledge distillation (NKD): target term plus renormalised non-target KD."""

from __future__ import annotations

import dataclasses

import torch

from entropy_bench.methods.losses.base import ClassificationLoss, check_logits, check_same_shape
from entropy_bench.methods.registry import LOSSES, require


def non_target(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """``logits[..., C]`` without each row's target column: ``[..., C − 1]``."""
    others = torch.ones_like(logits, dtype=torch.bool).scatter(-1, targets.unsqueeze(-1), False)
    return logits[others].reshape(*logits.shape[:-1], logits.shape[-1] - 1)


@LOSSES.register(
    "nkd",
    paper="Yang et al. (2023), From Knowledge Distillation to Self-Knowledge Distillation: A Unified Approach "
          "with Normalized Loss and Customized Soft Labels",
    url="https://arxiv.org/abs/2303.13005",
)
@dataclasses.dataclass(frozen=True)
class NKD(ClassificationLoss):
    """KD split into the target class and the non-target classes, the latter renormalised.

    ``loss(logits[..., C], targets[...], teacher_logits[..., C])``. KD's non-target part asks
    the student's non-target probabilities to match the teacher's, but the two sum to 1 − S_t and
    1 − T_t, which differ; NKD renormalises both over the non-target classes. With
    T = softmax(teacher), S = softmax(student), N(p)_k = p_k / Σ_{j≠y} p_j over k ≠ y (computed
    as the softmax of the non-target logits), λ = ``temperature`` and γ = ``gamma``:

        ℓ_i = −T_{i y} log S_{i y} − γ λ² Σ_{k≠y} N(T^λ_i)_k log N(S^λ_i)_k

    where ^λ means softmax(z / λ). The defaults λ = 1, γ = 1.5 are the reference code's
    (``cls_KD``); the training objective is ``cross_entropy`` + this loss. Teacher logits are inputs like any
    other (pass them without gradient; the reference code detaches T_y).
    """

    temperature: float = 1.0
    gamma: float = 1.5

    def __post_init__(self):
        super().__post_init__()
        require(self.temperature > 0, self.name, "temperature", f"must be > 0, got {self.temperature}")
        require(self.gamma >= 0, self.name, "gamma", f"must be >= 0, got {self.gamma}")

    def __call__(self, logits: torch.Tensor, targets: torch.Tensor, teacher_logits: torch.Tensor) -> torch.Tensor:
        check_logits(self.name, "logits", logits)
        check_same_shape(self.name, "teacher_logits", teacher_logits, logits, "logits")
        return self.reduce_rows(logits, targets, lambda z, y: self.rows(z, y, teacher_logits))

    def rows(self, logits: torch.Tensor, targets: torch.Tensor, teacher_logits: torch.Tensor) -> torch.Tensor:
        index = targets.unsqueeze(-1)
        target = -(teacher_logits.softmax(dim=-1).gather(-1, index) * logits.log_softmax(dim=-1).gather(-1, index))
        student = (non_target(logits, targets) / self.temperature).log_softmax(dim=-1)
        teacher = (non_target(teacher_logits, targets) / self.temperature).softmax(dim=-1)
        return target.squeeze(-1) - self.gamma * self.temperature**2 * (teacher * student).sum(dim=-1)
