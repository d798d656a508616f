"""Cross-entropy of a language-model head, computed without materialising the logits."""

from __future__ import annotations

import dataclasses

import torch

from entropy_bench.kernels.linear_cross_entropy import REDUCTIONS, linear_cross_entropy
from entropy_bench.methods.registry import LOSSES, Method, require, require_choice


@LOSSES.register(
    "linear_cross_entropy",
    paper="Wijmans et al. (2024), Cut Your Losses in Large-Vocabulary Language Models",
    url="https://arxiv.org/abs/2411.09009",
)
@dataclasses.dataclass(frozen=True)
class LinearCrossEntropy(Method):
    """Token cross-entropy of ``hidden @ weightᵀ + bias`` with label smoothing and z-loss.

    With z_i = W h_i + b, lse_i = log Σ_v exp(z_iv) and ε = ``label_smoothing``, λ = ``z_loss``:

        ℓ_i = (1 − ε)(lse_i − z_{i y_i}) + ε (lse_i − (1/V) Σ_v z_iv) + λ lse_i²

    over tokens whose target is not ``ignore_index``, reduced by ``reduction`` (``mean`` over
    those tokens, ``sum``, or ``none``). The [N, V] logits are never materialised
    (:func:`entropy_bench.kernels.linear_cross_entropy.linear_cross_entropy`). The same loss from
    materialised logits is ``cross_entropy`` (label smoothing) or ``logit_z_loss`` (z-loss).
    """

    label_smoothing: float = 0.0
    z_loss: float = 0.0
    ignore_index: int = -100
    reduction: str = "mean"

    def __post_init__(self):
        require(
            0.0 <= self.label_smoothing <= 1.0, self.name, "label_smoothing", f"must be in [0, 1], got {self.label_smoothing}"
        )
        require(self.z_loss >= 0.0, self.name, "z_loss", f"must be >= 0, got {self.z_loss}")
        require_choice(self.reduction, REDUCTIONS, self.name, "reduction")

    def __call__(
        self, hidden: torch.Tensor, weight: torch.Tensor, targets: torch.Tensor, bias: torch.Tensor | None = None
    ) -> torch.Tensor:
        return linear_cross_entropy(
            hidden,
            weight,
            targets,
            bias,
            ignore_index=self.ignore_index,
            label_smoothing=self.label_smoothing,
            z_loss=self.z_loss,
            reduction=self.reduction,
        )
