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

    With tokens sorted by probability p_(1) ≥ p_(2) ≥ …, token (i) is kept iff
    ``sum_{j<i} p_(j) < top_p`` — the mass strictly before it has not yet reached ``top_p``.
    """

    top_p: float = 0.9

    def __post_init__(self):
        require(0 < self.top_p <= 1, self.name, "top_p", f"must be in (0, 1], got {self.top_p}")

    def warp(self, logits: torch.Tensor) -> torch.Tensor:
        probs, order = logits.softmax(dim=-1).sort(dim=-1, descending=True)
        mass_before = probs.cumsum(dim=-1) - probs
        keep_sorted = mass_before < self.top_p
        keep = torch.zeros_like(keep_sorted).scatter(-1, order, keep_sorted)
        return mask_outside(logits, keep)
