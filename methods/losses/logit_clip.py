"""LogitClip: cross-entropy of the logits with their norm clamped to τ."""

from __future__ import annotations

import dataclasses

import torch

from entropy_bench.methods.losses.base import ClassificationLoss, target_log_prob
from entropy_bench.methods.registry import LOSSES, require


@LOSSES.register(
    "logit_clip",
    paper="Wei et al. (2023), Mitigating Memorization of Noisy Labels by Clipping the Model Prediction",
    url="https://arxiv.org/abs/2212.04055",
)
@dataclasses.dataclass(frozen=True)
class LogitClip(ClassificationLoss):
    """Cross-entropy of the logit vector scaled down to norm τ where it is longer.

        clip_τ(z) = z · min(1, τ / ‖z‖₂),   ℓ_i = −log softmax(clip_τ(z_i))_{y_i}

    Inside the ball |z_k − z_y| ≤ |z_k| + |z_y| ≤ √2 τ, so ℓ ≤ log(1 + (C − 1) e^{√2 τ}):
    cross-entropy becomes bounded and memorising noisy labels is capped; rows already inside the
    ball get plain cross-entropy. τ = ``tau`` (the paper's p-norm is p = 2 here). The official code
    (``algorithms/clip.py``) compares ‖z‖ with τ but rescales to norm 1/τ; the two agree at τ = 1,
    and this module follows the paper's continuous clip.
    """

    tau: float = 1.0

    def __post_init__(self):
        super().__post_init__()
        require(self.tau > 0, self.name, "tau", f"must be > 0, got {self.tau}")

    def rows(self, logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        norm = torch.linalg.vector_norm(logits, dim=-1, keepdim=True)
        return -target_log_prob(logits * (self.tau / norm.clamp_min(self.tau)), targets)
