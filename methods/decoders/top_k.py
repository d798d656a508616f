"""Top-k sampling."""

from __future__ import annotations

import dataclasses

import torch

from entropy_bench.methods.decoders.base import Decoder
from entropy_bench.methods.registry import DECODERS, require


def kth_largest(logits: torch.Tensor, k: int | torch.Tensor) -> torch.Tensor:
    """The k-th largest logit of each row, shape [..., 1]; ``k`` is an int or a per-row
    ``LongTensor[B]``, clamped to ``[1, V]``."""
    if isinstance(k, int):
        return logits.topk(min(max(k, 1), logits.shape[-1]), dim=-1).values[..., -1:]
    k = k.clamp(1, logits.shape[-1]).expand(logits.shape[:-1])
    largest = logits.topk(int(k.max()), dim=-1).values
    return largest.gather(-1, k.unsqueeze(-1) - 1)


def run_starts(ranked: torch.Tensor) -> torch.Tensor:
    """For values ranked along the last dimension (sorted either way), the position of the first
    entry of each entry's run of equal values, shape and index dtype as ``argsort``'s.

    The ranking rules use it to give tokens tied in their statistic one decision: whatever order a
    sort returns ties in, the first position of the run (and so what is read there) is the same.
    """
    starts = torch.ones_like(ranked, dtype=torch.bool)
    starts[..., 1:] = ranked[..., 1:] != ranked[..., :-1]
    positions = torch.arange(ranked.shape[-1], device=ranked.device).expand(ranked.shape)
    return torch.where(starts, positions, 0).cummax(dim=-1).values


@DECODERS.register(
    "top_k",
    paper="Fan, Lewis & Dauphin (2018), Hierarchical Neural Story Generation",
    url="https://arxiv.org/abs/1805.04833",
)
@dataclasses.dataclass(frozen=True)
class TopK(Decoder):
    """Keep the ``top_k`` most probable tokens.

    Token v is kept iff ``logits[v] ≥ z_(k)``, the k-th largest logit of its row, k = min(top_k, V)
    (so the argmax always is). Ties with the k-th logit are all kept, as in transformers'
    ``TopKLogitsWarper``; ``top_k ≥ V`` is the identity.
    """

    top_k: int = 50

    def __post_init__(self):
        valid = isinstance(self.top_k, int) and not isinstance(self.top_k, bool) and self.top_k >= 1
        require(valid, self.name, "top_k", f"must be an integer ≥ 1, got {self.top_k!r}")

    def warp(self, logits: torch.Tensor) -> torch.Tensor:
        return torch.where(logits < kth_largest(logits, self.top_k), float("-inf"), logits)
