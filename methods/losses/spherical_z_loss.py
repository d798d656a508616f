"""The Z-loss of the spherical family: a softplus of the standardised target logit."""

from __future__ import annotations

import dataclasses

import torch
import torch.nn.functional as F

from entropy_bench.methods.losses.base import ClassificationLoss
from entropy_bench.methods.registry import LOSSES, require


@LOSSES.register(
    "spherical_z_loss",
    paper="de Brébisson & Vincent (2016), The Z-loss: a shift and scale invariant classification loss "
          "belonging to the Spherical Family",
    url="https://arxiv.org/abs/1604.08859",
)
@dataclasses.dataclass(frozen=True)
class SphericalZLoss(ClassificationLoss):
    """Softplus of the target's z-score among the row's logits; shift- and scale-invariant.

    With μ_i and σ_i the mean and (population) standard deviation of the row's C logits:

        ζ_i = (z_{i y_i} − μ_i) / σ_i,   ℓ_i = (1/a) log(1 + exp(a (b − ζ_i)))

    ℓ depends on the logits only through Σ_k z_k, Σ_k z_k² and z_y (the spherical family, whose
    training cost can be made independent of C), and is unchanged by z → c·z + d for c > 0. a > 0
    sets the sharpness (a → ∞ is the hinge max(0, b − ζ)) and b the z-score aimed at; the paper
    tunes both per task and states no defaults, so both are required here. The outputs are not
    probabilities. A row whose logits are all equal has σ = 0 and ℓ = NaN.

    This is *not* the PaLM/ST-MoE "z-loss" on log Z (``logit_z_loss``); the catalog
    (training-side.md, caveat 2 and L1) keeps the two apart.
    """

    a: float = dataclasses.field(kw_only=True)
    b: float = dataclasses.field(kw_only=True)

    def __post_init__(self):
        super().__post_init__()
        require(self.a > 0, self.name, "a", f"must be > 0, got {self.a}")

    def rows(self, logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        mean = logits.mean(dim=-1)
        std = logits.std(dim=-1, correction=0)
        z_score = (logits.gather(-1, targets.unsqueeze(-1)).squeeze(-1) - mean) / std
        return F.softplus(self.b - z_score, beta=self.a)
