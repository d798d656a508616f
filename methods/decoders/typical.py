"""Locally typical sampling."""

from __future__ import annotations

import dataclasses

import torch

from entropy_bench.kernels.softmax_stats import softmax_stats
from entropy_bench.methods.decoders.base import Decoder, by_candidates
from entropy_bench.methods.registry import DECODERS, require


@DECODERS.register(
    "typical",
    paper="Meister, Pimentel, Wiher & Cotterell (2023), Locally Typical Sampling (TACL)",
    url="https://arxiv.org/abs/2202.00666",
)
@dataclasses.dataclass(frozen=True)
class Typical(Decoder):
    """Keep the tokens whose surprise is closest to the step's entropy, up to mass ``typical_p``.

    With H = −Σ_v p_v log p_v and the distance d_v = |−log p_v − H|, sort tokens by d ascending,
    d_(1) ≤ d_(2) ≤ …; the cut-off is the first position i with Σ_{j≤i} p_(j) ≥ ``typical_p``
    (the last position if rounding never gets there), and token v is kept iff d_v ≤ d_(i), so
    ties at the cut-off stay. The most typical token (1) is always kept; the most probable one
    may be dropped. This is transformers' ``TypicalLogitsWarper`` (``min_tokens_to_keep=1``).

    Only the k most typical tokens are ranked (:func:`by_candidates`); a row is settled once
    their mass reaches ``typical_p``, since every unranked token is at least as far from H.
    """

    typical_p: float = 0.9

    def __post_init__(self):
        require(0 < self.typical_p <= 1, self.name, "typical_p", f"must be in (0, 1], got {self.typical_p}")

    def warp(self, logits: torch.Tensor) -> torch.Tensor:
        return by_candidates(logits, self._warp_top)

    def _warp_top(self, logits: torch.Tensor, k: int) -> tuple[torch.Tensor, torch.Tensor]:
        logp = logits.log_softmax(dim=-1)
        entropy = softmax_stats(logits).entropy.to(logits.dtype).unsqueeze(-1)
        distance = (logp + entropy).abs_()  # |−log p − H|
        nearest, order = distance.topk(k, dim=-1, largest=False)
        mass = logp.gather(-1, order).exp().cumsum(dim=-1)
        reached = mass[..., -1] >= self.typical_p
        cut = (mass < self.typical_p).sum(dim=-1, keepdim=True).clamp(max=k - 1)
        warped = torch.where(distance > nearest.gather(-1, cut), float("-inf"), logits)
        return warped, reached | (k == logits.shape[-1])
