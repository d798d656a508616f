"""Top-H decoding: entropy-bounded truncation."""

from __future__ import annotations

import dataclasses

import torch

from entropy_bench.kernels.softmax_stats import softmax_stats
from entropy_bench.methods.decoders.base import Decoder
from entropy_bench.methods.decoders.top_k import run_starts
from entropy_bench.methods.registry import DECODERS, require


@DECODERS.register(
    "top_h",
    paper=(
        "Baghaei Potraghloo et al. (2025), Top-H Decoding: Adapting the Creativity and Coherence "
        "with Bounded Entropy in Text Generation (NeurIPS)"
    ),
    url="https://arxiv.org/abs/2509.02510",
)
@dataclasses.dataclass(frozen=True)
class TopH(Decoder):
    """Keep the most probable tokens while their cumulative entropy stays within ``top_h · H``.

    Candidates are the ``top_k`` most probable tokens and every token tied with the k-th
    (``top_k ≥ V``: all of them), with p = softmax of their logits and H = −Σ p log p over them.
    Sorted p_(1) ≥ p_(2) ≥ …, token (i) is kept iff ``Σ_{j≤i} −p_(j) log p_(j) ≤ top_h · H``, the
    sum taken up to the first of the tokens tied with (i), so that tied tokens are kept or dropped
    together; the tokens tied with the maximum always. H is taken as the total of the same
    partial sums rather than from ``softmax_stats``: a separately rounded H makes near-one-hot
    rows (H ~ 1e-6) keep or drop their whole tail at random, and ``top_h = 1`` drop candidates.

    This is the rule of transformers' ``TopHLogitsWarper``, whose candidate cap is fixed at 100
    (our default ``top_k``), except on ties: transformers takes exactly 100 candidates and decides
    tied tokens by their order in ``torch.topk``'s output, i.e. by index (a flat row keeps
    ``top_h`` · 100 of its tokens, chosen by index; here it keeps them all). Its documentation
    instead describes bounding the entropy of the
    *renormalised* kept distribution, (1/Γ)·Σ_{j≤i} −p_(j) log p_(j) + log Γ with Γ = Σ_{j≤i} p_(j);
    we follow the code, so that ``top_h`` values mean the same here and in transformers.
    """

    top_h: float = 0.4
    top_k: int = 100

    def __post_init__(self):
        require(0 < self.top_h <= 1, self.name, "top_h", f"must be in (0, 1], got {self.top_h}")
        valid = isinstance(self.top_k, int) and not isinstance(self.top_k, bool) and self.top_k >= 1
        require(valid, self.name, "top_k", f"must be an integer ≥ 1, got {self.top_k!r}")

    def warp(self, logits: torch.Tensor) -> torch.Tensor:
        top_logits, top_index = self.candidates(logits)
        lse = softmax_stats(top_logits).lse
        logp = top_logits.to(lse.dtype) - lse.unsqueeze(-1)
        partial = torch.where(logp > float("-inf"), -logp.exp() * logp, 0.0).cumsum(dim=-1)
        drop = partial.gather(-1, run_starts(top_logits)) > self.top_h * partial[..., -1:]
        drop &= top_logits < top_logits[..., :1]
        return torch.full_like(logits, float("-inf")).scatter(-1, top_index, top_logits.masked_fill(drop, float("-inf")))

    def candidates(self, logits: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The ``top_k`` largest logits of each row and their indices, plus every logit tied with a
        row's finite k-th (rows with fewer are padded with −inf). One more than k are ranked, so
        only a batch with such a tie pays for counting the ties over the vocabulary."""
        vocab = logits.shape[-1]
        k = min(self.top_k, vocab)
        top_logits, top_index = logits.topk(min(k + 1, vocab), dim=-1)
        if k == vocab:
            return top_logits, top_index
        kth = top_logits[..., k - 1 : k]
        if not bool(((top_logits[..., k:] == kth) & (kth > float("-inf"))).any()):
            return top_logits[..., :k], top_index[..., :k]
        count = torch.where(kth > float("-inf"), (logits >= kth).sum(dim=-1, keepdim=True), k)
        top_logits, top_index = logits.topk(int(count.max()), dim=-1)
        positions = torch.arange(top_logits.shape[-1], device=logits.device)
        return top_logits.masked_fill(positions >= count, float("-inf")), top_index  # below a shorter row's k-th
