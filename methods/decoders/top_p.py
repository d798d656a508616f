"""Nucleus (top-p) sampling."""

from __future__ import annotations

import dataclasses

import torch

from entropy_bench.methods.decoders.base import Decoder, by_candidates
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
    ``top_p``. The most probable token is always kept. This is transformers' ``TopPLogitsWarper``
    (``min_tokens_to_keep=1``), whose float32 ``cumsum`` accumulates in float64 on CPU: the sums
    here are taken in float64 too and rounded to the logits' dtype before the comparison. Summing
    from the least probable end keeps ``top_p=1`` the identity in floating point.

    Only the k most probable tokens are ranked (:func:`by_candidates`): the mass up to candidate
    (i) is the mass of the unranked tail plus that of the candidates from (i) down, and a row is
    settled once its last candidate is dropped (everything below it is dropped too).
    """

    top_p: float = 0.9

    def __post_init__(self):
        require(0 < self.top_p <= 1, self.name, "top_p", f"must be in (0, 1], got {self.top_p}")

    def warp(self, logits: torch.Tensor) -> torch.Tensor:
        return by_candidates(logits, self._warp_top)

    def _warp_top(self, logits: torch.Tensor, k: int) -> tuple[torch.Tensor, torch.Tensor]:
        probs = logits.softmax(dim=-1)
        top_logits, top_index = logits.topk(k, dim=-1)
        top_probs = probs.gather(-1, top_index).double()
        tail = probs.scatter(-1, top_index, 0.0).double().sum(dim=-1, keepdim=True)
        mass_up_to = (tail + top_probs.flip(-1).cumsum(-1).flip(-1)).to(logits.dtype)
        drop = mass_up_to <= 1 - self.top_p
        drop[..., 0] = False
        warped = torch.full_like(logits, float("-inf")).scatter(-1, top_index, top_logits.masked_fill(drop, float("-inf")))
        return warped, drop[..., -1] | (k == logits.shape[-1])
