"""Cross-entropy plus the PaLM z-loss, λ·log²Z, which keeps the softmax normaliser near 1."""

from __future__ import annotations

import dataclasses

import torch

from entropy_bench.methods.losses.base import ClassificationLoss
from entropy_bench.methods.registry import LOSSES, require


@LOSSES.register(
    "logit_z_loss",
    paper="Chowdhery et al. (2022), PaLM: Scaling Language Modeling with Pathways",
    url="https://arxiv.org/abs/2204.02311",
)
@dataclasses.dataclass(frozen=True)
class LogitZLoss(ClassificationLoss):
    """Cross-entropy plus λ (log Z)², pulling the log-normaliser log Z = logsumexp(z) to 0.

        ℓ_i = (log Z_i − z_{i y_i}) + λ (log Z_i)²,   log Z_i = log Σ_k exp(z_ik)

    λ = ``z_loss``; PaLM uses 10⁻⁴ and reports that keeping log Z near 0 stabilises training
    (ST-MoE's router z-loss is the same term on router logits). The term alone is ℓ − CE. ``linear_cross_entropy(z_loss=λ)`` is this
    loss without materialising the logits.

    Not from the catalog's seed papers (training-side.md, caveat 2: the seeds' "Z-loss" is
    ``spherical_z_loss``).
    """

    z_loss: float = 1e-4

    def __post_init__(self):
        super().__post_init__()
        require(self.z_loss >= 0, self.name, "z_loss", f"must be >= 0, got {self.z_loss}")

    def rows(self, logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        log_z = logits.logsumexp(dim=-1)
        target_logit = logits.gather(-1, targets.unsqueeze(-1)).squeeze(-1)
        return log_z - target_logit + self.z_loss * log_z**2
