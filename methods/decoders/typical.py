"""Locally typical sampling."""

from __future__ import annotations

import dataclasses

import torch

from entropy_bench.methods.decoders.base import Decoder, by_candidates, take_rows
from entropy_bench.methods.decoders.mass_cutoff import mass_cutoff, ordered_bits
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
    their mass reaches ``typical_p``, since every unranked token is at least as far from H; k
    tokens hold at most k · max p. The other rows are never sorted: the cut-off distance, the
    smallest d* with Σ_{d_v ≤ d*} p_v ≥ ``typical_p`` (the largest distance if none), is found by
    radix selection (:func:`mass_cutoff`). H is summed from the log-softmax the distances need anyway,
    as transformers does.

    The statistics (log p, H, the distances and the masses) are computed in float32 for bf16 and
    fp16 logits (float64 stays float64): in bf16, whose 8-bit mantissa puts a rounding of ~0.4% on
    every log p, distances and masses near the cut-off land on the wrong side of it (transformers'
    warper, which computes in the input dtype, keeps tens of wrong tokens on a [4, 1000] bf16 batch).
    """

    typical_p: float = 0.9

    def __post_init__(self):
        require(0 < self.typical_p <= 1, self.name, "typical_p", f"must be in (0, 1], got {self.typical_p}")

    def warp(self, logits: torch.Tensor) -> torch.Tensor:
        logp = logits.log_softmax(dim=-1, dtype=torch.float64 if logits.dtype == torch.float64 else torch.float32)
        entropy = -(logp.exp() * logp).nansum(dim=-1, keepdim=True)  # 0 · log 0 is NaN: left out
        distance = (logp + entropy).abs_()  # |−log p − H|

        def warp_top(rows: torch.Tensor, k: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
            d = take_rows(distance, rows)
            if k == logits.shape[-1]:  # no ranking: the cut-off distance by radix selection
                far = ordered_bits(d) > mass_cutoff(d, take_rows(logp, rows).exp(), self.typical_p, strict=False)
                warped = take_rows(logits, rows).masked_fill(far, float("-inf"))
                return warped, torch.ones_like(far[..., 0]), torch.zeros_like(d[..., 0])
            nearest, order = d.topk(k, dim=-1, largest=False)
            mass = take_rows(logp, rows).gather(-1, order).exp().cumsum(dim=-1)
            cut = (mass < self.typical_p).sum(dim=-1, keepdim=True).clamp(max=k - 1)
            warped = torch.where(d > nearest.gather(-1, cut), float("-inf"), take_rows(logits, rows))
            return warped, mass[..., -1] >= self.typical_p, torch.full_like(mass[..., 0], k + 1)

        return by_candidates(logits, warp_top, needed=self.typical_p / logp.amax(dim=-1).exp())
