"""Softmax cross-entropy of logits, with label smoothing."""

from __future__ import annotations

import dataclasses

import torch

from entropy_bench.methods.losses.base import ClassificationLoss, target_log_prob
from entropy_bench.methods.registry import LOSSES, require


@LOSSES.register(
    "cross_entropy",
    paper="Szegedy et al. (2016), Rethinking the Inception Architecture for Computer Vision",
    url="https://arxiv.org/abs/1512.00567",
)
@dataclasses.dataclass(frozen=True)
class CrossEntropy(ClassificationLoss):
    """Cross-entropy of ``softmax(logits)`` against the target class, the target smoothed by ε.

    With p_i = softmax(z_i) and ε = ``label_smoothing`` (Szegedy et al. 2016, §7: the target is
    (1 − ε)·onehot(y_i) + ε/C):

        ℓ_i = (1 − ε)(−log p_{i y_i}) + ε (1/C) Σ_k (−log p_ik)

    This is ``torch.nn.functional.cross_entropy(logits, targets, label_smoothing=ε)``, with the
    same ``ignore_index`` and reductions. With ε = 0 the smoothing term is not formed, so other
    classes' logits may be −inf. The same loss from hidden states and the classifier weight,
    without materialising the logits, is ``linear_cross_entropy``.
    """

    label_smoothing: float = 0.0

    def __post_init__(self):
        super().__post_init__()
        require(0.0 <= self.label_smoothing <= 1.0, self.name, "label_smoothing",
                f"must be in [0, 1], got {self.label_smoothing}")

    def rows(self, logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        nll = -target_log_prob(logits, targets)
        if self.label_smoothing == 0:
            return nll
        uniform = -logits.log_softmax(dim=-1).mean(dim=-1)
        return (1 - self.label_smoothing) * nll + self.label_smoothing * uniform
