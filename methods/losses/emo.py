"""EMO: earth mover distance between the model's next-token distribution and the target."""

from __future__ import annotations

import dataclasses

import torch
import torch.nn.functional as F

from entropy_bench.methods.losses.base import ClassificationLoss, check_logits, describe, target_log_prob
from entropy_bench.methods.registry import LOSSES, require


def demd(logits: torch.Tensor, targets: torch.Tensor, embeddings: torch.Tensor) -> torch.Tensor:
    """Σ_v q_v (1 − cos(e_v, e_y)) per row: ``logits[..., V]``, ``targets[...]``, ``embeddings[V, D]``.

    Formed as 1 − ⟨Σ_v q_v ê_v, ê_y⟩ (ê = e/‖e‖), O(V·D) per row instead of the V×V cost matrix.
    """
    unit = F.normalize(embeddings, dim=-1)
    expected = logits.softmax(dim=-1) @ unit
    return 1 - (expected * unit[targets]).sum(dim=-1)


@LOSSES.register(
    "emo",
    paper="Ren, Wu & Zhu (2023), EMO: Earth Mover Distance Optimization for Auto-Regressive Language Modeling",
    url="https://arxiv.org/abs/2310.04691",
)
@dataclasses.dataclass(frozen=True)
class EMO(ClassificationLoss):
    """MLE plus an earth-mover term whose transport cost is the embedding distance of tokens.

    ``loss(logits[..., V], targets[...], embeddings[V, D])``. The cost of moving mass from token
    v to token w is C(v, w) = 1 − cos(e_v, e_w), with ``embeddings`` a frozen copy of the LM head
    taken when fine-tuning starts (the reference code's ``cost_embedding``). The EMD between the
    model's q = softmax(z) and the data distribution P is bounded above by the cost of the
    independent coupling, DEMD = Σ_v Σ_w q_v P_w C(v, w) (the paper's "feasible upper bound");
    for a one-hot target every coupling is the independent one, so here it is the EMD itself:

        DEMD_i = Σ_v q_iv (1 − cos(e_v, e_{y_i}))                              (:func:`demd`)

    The objective of the paper's code (``language_modeling/gpt2.py``, ``emo_patch.py``) rescales
    DEMD to the size of the MLE loss and averages the two, with sg the stop-gradient:

        ℓ_i = ½ (CE_i + sg(CE_i / (DEMD_i + 10⁻¹⁰)) · DEMD_i),   CE_i = −log q_{i y_i}

    so the value is CE (to 10⁻¹⁰) and the gradient ½ (∇CE + (CE/DEMD) ∇DEMD). (The packaged
    ``EMOLoss`` also caps the ratio at 3; ``gpt2.py`` and ``emo_patch.py`` do not.) A zero embedding row has
    ê = 0, cost 1 to every token (the reference code divides by its norm and returns NaN).
    """

    def __call__(self, logits: torch.Tensor, targets: torch.Tensor, embeddings: torch.Tensor) -> torch.Tensor:
        check_logits(self.name, "logits", logits)
        require(isinstance(embeddings, torch.Tensor) and embeddings.is_floating_point() and embeddings.dim() == 2
                and embeddings.shape[0] == logits.shape[-1], self.name, "embeddings",
                f"must be a floating-point tensor [V, D] with V = {logits.shape[-1]} (the logits' classes), "
                f"got {describe(embeddings)}")
        return self.reduce_rows(logits, targets, lambda z, y: self.rows(z, y, embeddings))

    def rows(self, logits: torch.Tensor, targets: torch.Tensor, embeddings: torch.Tensor) -> torch.Tensor:
        ce = -target_log_prob(logits, targets)
        transport = demd(logits, targets, embeddings)
        return (ce + (ce / (transport + 1e-10)).detach() * transport) / 2
