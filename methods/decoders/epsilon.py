"""Epsilon sampling."""

from __future__ import annotations

import dataclasses

import torch

from entropy_bench.methods.decoders.base import Decoder, mask_outside
from entropy_bench.methods.registry import DECODERS, require


@DECODERS.register(
    "epsilon",
    paper="Hewitt, Manning & Liang (2022), Truncation Sampling as Language Model Desmoothing",
    url="https://arxiv.org/abs/2210.15191",
)
@dataclasses.dataclass(frozen=True)
class Epsilon(Decoder):
    """Keep the tokens with probability at least ``epsilon``.

    Token v is kept iff ``p_v ≥ epsilon``; the argmax always.

    This is transformers' ``EpsilonLogitsWarper`` (``min_tokens_to_keep=1``).
    """

    epsilon: float = 3e-4

    def __post_init__(self):
        require(0 < self.epsilon < 1, self.name, "epsilon", f"must be in (0, 1), got {self.epsilon}")

    def warp(self, logits: torch.Tensor) -> torch.Tensor:
        return mask_outside(logits, logits.softmax(dim=-1) >= self.epsilon)
