"""Active–passive loss NCE+RCE: normalised cross-entropy plus reverse cross-entropy."""

from __future__ import annotations

import dataclasses
import math

import torch

from entropy_bench.methods.losses.base import ClassificationLoss
from entropy_bench.methods.registry import LOSSES, require


@LOSSES.register(
    "nce_rce",
    paper="Ma et al. (2020), Normalized Loss Functions for Deep Learning with Noisy Labels",
    url="https://arxiv.org/abs/2006.13554",
)
@dataclasses.dataclass(frozen=True)
class NCEandRCE(ClassificationLoss):
    """α·NCE + β·RCE: an active and a passive robust loss that keep each other from underfitting.

    Normalising a loss by its sum over all labels makes it robust to label noise (the paper's
    theorem); for cross-entropy, with p_i = softmax(z_i),

        NCE_i = (−log p_{i y_i}) / Σ_k (−log p_ik)                         ∈ [0, 1]

    (the *active* part: it only pushes p_y up). Reverse cross-entropy swaps the roles of
    prediction and label, −Σ_k p_ik log onehot(y_i)_k, with log 0 replaced by A = log(``label_clip``)
    (the reference code clamps the one-hot at 10⁻⁴, A ≈ −9.21):

        RCE_i = −A (1 − p_{i y_i})                                          ∈ [0, −A]

    (the *passive* part: it also pushes the other classes down). ℓ_i = α NCE_i + β RCE_i ≤ α − βA;
    the paper's CIFAR-10 setting is α = β = 1. β = 0 is NCE alone, α = 0 RCE alone (a multiple of
    ``mae``). The reference code also clamps p ≥ 10⁻⁷ inside RCE, which moves it by less than
    C·10⁻⁷·|A|; that clamp is left out. −inf logits make NCE −inf/−inf = NaN.
    """

    alpha: float = 1.0
    beta: float = 1.0
    label_clip: float = 1e-4

    def __post_init__(self):
        super().__post_init__()
        require(self.alpha >= 0, self.name, "alpha", f"must be >= 0, got {self.alpha}")
        require(self.beta >= 0, self.name, "beta", f"must be >= 0, got {self.beta}")
        require(self.alpha + self.beta > 0, self.name, "beta", "alpha and beta are both 0: the loss would be 0")
        require(0 < self.label_clip < 1, self.name, "label_clip", f"must be in (0, 1), got {self.label_clip}")

    def rows(self, logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        log_p = logits.log_softmax(dim=-1)
        target_log_p = log_p.gather(-1, targets.unsqueeze(-1)).squeeze(-1)
        nce = target_log_p / log_p.sum(dim=-1)
        rce = math.log(self.label_clip) * torch.expm1(target_log_p)
        return self.alpha * nce + self.beta * rce
