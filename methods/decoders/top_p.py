"""Nucleus (top-p) sampling."""

from __future__ import annotations

import dataclasses

import torch

from entropy_bench.methods.decoders.base import Decoder, mask_outside
from entropy_bench.methods.registry import DECODERS, require


@DECODERS.register(
    "top_p",
    paper="Holtzman et al. (2020), The Curious Case of Neural Text Degeneration",
    url="https://arxiv.org/abs/1904.09751",
)
@dataclasses.dataclass(frozen=True)
class TopP(Decoder):
    """Keep the smallest set of most probable tokens whose mass reaches ``top_p``.

    With tokens sorted by probability ascending, p_(1) ≤ p_(2) ≤ …, token (i) is dropped iff
    ``sum_{j≤i} p_(j) ≤ 1 − top_p`` — the tokens at most as probable as it (itself included) hold
    no more than the mass left out; equivalently, the mass strictly above it already reaches
    ``top_p``. This is transformers' ``TopPLogitsWarper`` (``min_tokens_to_keep=1``). Summing from
    the least probable end keeps ``top_p=1`` the identity in floating point: the mass above a tail
    token rounds to 1 in float32 long before the tail ends.
    """

    top_p: float = 0.9

    def __post_init__(self):
        require(0 < self.top_p <= 1, self.name, "top_p", f"must be in (0, 1], got {self.top_p}")

    def warp(self, logits: torch.Tensor) -> torch.Tensor:
        ascending, order = logits.sort(dim=-1)
        mass_up_to = ascending.softmax(dim=-1).cumsum(dim=-1)
        drop = torch.zeros_like(logits, dtype=torch.bool).scatter(-1, order, mass_up_to <= 1 - self.top_p)
        return mask_outside(logits, ~drop)
