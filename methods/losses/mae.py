"""Mean absolute error between the softmax and the one-hot target."""

from __future__ import annotations

import dataclasses

import torch

from entropy_bench.methods.losses.base import ClassificationLoss, target_log_prob
from entropy_bench.methods.registry import LOSSES


@LOSSES.register(
    "mae",
    paper="Ghosh, Kumar & Sastry (2017), Robust Loss Functions under Label Noise for Deep Neural Networks",
    url="https://arxiv.org/abs/1712.09482",
)
@dataclasses.dataclass(frozen=True)
class MAE(ClassificationLoss):
    """L1 distance between p = softmax(z) and onehot(y): a bounded, symmetric, noise-tolerant loss.

        ℓ_i = Σ_k |onehot(y_i)_k − p_ik| = 2 (1 − p_{i y_i})

    (the other classes hold 1 − p_y between them). It is 2 × ``generalized_ce`` at q = 1, and the
    symmetric loss the paper proves tolerant to symmetric label noise; it underfits on hard data
    (the GCE and APL papers' point). The catalog's comp-sum paper (training-side.md L2) covers it.
    1 − p_y is taken as −expm1(log p_y).
    """

    def rows(self, logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        return -2 * torch.expm1(target_log_prob(logits, targets))
