"""Wasserstein-1 loss over ordered bins: the expected distance from the target bin."""

from __future__ import annotations

import dataclasses

import torch

from entropy_bench.methods.losses.base import ClassificationLoss
from entropy_bench.methods.registry import LOSSES


@LOSSES.register(
    "wasserstein_ordinal",
    paper="Chernov (2024), Fine-Tuning a Time Series Foundation Model with Wasserstein Loss",
    url="https://arxiv.org/abs/2409.15367",
)
@dataclasses.dataclass(frozen=True)
class WassersteinOrdinal(ClassificationLoss):
    """W1 distance between softmax(z) over ordered, unit-spaced bins 0…C−1 and the target bin.

    For distributions on a line, W1 is the L1 distance between the CDFs; against a point mass at
    y_i it is the expected distance to y_i:

        ℓ_i = Σ_{k<C−1} |F_i(k) − [k ≥ y_i]| = Σ_k p_ik |k − y_i|,   p_i = softmax(z_i)

    (F_i the predicted CDF). Unlike cross-entropy it charges more for mass far from the target
    than for mass next to it, which is the paper's reason to use it for tokenised (binned)
    time series. Computed as the expectation, which avoids the cancellation in 1 − F near 1.
    """

    def rows(self, logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        bins = torch.arange(logits.shape[-1], device=logits.device, dtype=logits.dtype)
        distance = (bins - targets.unsqueeze(-1).to(logits.dtype)).abs()
        return (logits.softmax(dim=-1) * distance).sum(dim=-1)
