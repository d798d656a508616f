"""Epsilon sampling."""

from __future__ import annotations

import dataclasses

import torch

from entropy_bench.methods.decoders.base import Decoder
from entropy_bench.methods.registry import DECODERS, require


@DECODERS.register(
    "epsilon",
    paper="Hewitt, Manning & Liang (2022), Truncation Sampling as Language Model Desmoothing",
    url="https://arxiv.org/abs/2210.15191",
)
@dataclasses.dataclass(frozen=True)
class Epsilon(Decoder):
    """Keep the tokens with probability at least ``epsilon``.

    Token v is kept iff ``p_v ≥ epsilon`` or its logit is the row's maximum: every token tied
    with the maximum is kept, so a flat row, where no token reaches ``epsilon`` (V > 1/epsilon),
    keeps all of its tokens rather than the lowest id among them.

    This is transformers' ``EpsilonLogitsWarper`` (``min_tokens_to_keep=1``), whose fallback
    keeps ``scores ≥ topk(scores, 1)``, i.e. all tokens tied with the maximum logit.
    """

    epsilon: float = 3e-4

    def __post_init__(self):
        require(0 < self.epsilon < 1, self.name, "epsilon", f"must be in (0, 1), got {self.epsilon}")

    def warp(self, logits: torch.Tensor) -> torch.Tensor:
        keep = (logits.softmax(dim=-1) >= self.epsilon) | (logits >= logits.amax(dim=-1, keepdim=True))
        return torch.where(keep, logits, float("-inf"))
