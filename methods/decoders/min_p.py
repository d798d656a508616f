"""Min-p sampling."""

from __future__ import annotations

import dataclasses

import torch

from entropy_bench.methods.decoders.base import Decoder
from entropy_bench.methods.registry import DECODERS, require


@DECODERS.register(
    "min_p",
    paper="Nguyen et al. (2025), Turning Up the Heat: Min-p Sampling for Creative and Coherent LLM Outputs",
    url="https://arxiv.org/abs/2407.01082",
)
@dataclasses.dataclass(frozen=True)
class MinP(Decoder):
    """Keep the tokens at least ``min_p`` times as probable as the most probable one.

    Token v is kept iff ``p_v ≥ min_p · max_u p_u`` (so the most probable one always is).

    ``min_p=0`` keeps every token, ``min_p=1`` only those tied with the top one. This is
    transformers' ``MinPLogitsWarper`` (``min_tokens_to_keep=1``).
    """

    min_p: float = 0.1

    def __post_init__(self):
        require(0 <= self.min_p <= 1, self.name, "min_p", f"must be in [0, 1], got {self.min_p}")

    def warp(self, logits: torch.Tensor) -> torch.Tensor:
        probs = logits.softmax(dim=-1)
        return torch.where(probs < self.min_p * probs.amax(dim=-1, keepdim=True), float("-inf"), logits)
