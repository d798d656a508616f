"""Top-nσ sampling: truncation in logit space at n standard deviations below the maximum."""

from __future__ import annotations

import dataclasses

import torch

from entropy_bench.methods.decoders.base import Decoder
from entropy_bench.methods.registry import DECODERS, require


@DECODERS.register(
    "top_n_sigma",
    paper="Tang, Liu, Xu & Huang (2024), Top-nσ: Not All Logits Are You Need",
    url="https://arxiv.org/abs/2411.07641",
)
@dataclasses.dataclass(frozen=True)
class TopNSigma(Decoder):
    """Keep the tokens whose logit is within ``n`` standard deviations (of the row's logits) of its maximum.

    With F the row's finite logits (|F| = m; −inf entries are tokens an earlier rule masked),

        μ = (1/m) Σ_{v∈F} z_v,   σ = sqrt((1/m) Σ_{v∈F} (z_v − μ)²),   keep v  iff  z_v ≥ max_u z_u − n·σ

    — the population standard deviation over the finite logits and a non-strict comparison, as in
    llama.cpp's ``llama_sampler_top_n_sigma`` (src/llama-sampling.cpp); μ and σ are computed in
    float64. Every token tied with the maximum is kept (n·σ ≥ 0), ``n=0`` keeps exactly those, and
    a row whose finite logits are all equal (σ = 0) keeps all of them. ``n=1`` is the value the
    authors evaluate (their eval configs, ``top_nsigma: [1.0]``); llama.cpp has no default (its
    ``top_n_sigma=-1`` means off, and any n ≤ 0 is a no-op there, where here n = 0 is the limit
    of the rule and n < 0 is refused).

    Other ports differ. The authors' code (``nsigma_truncate`` in their eval_code/my_sampler.py)
    takes ``torch.std`` — Bessel-corrected, σ larger by sqrt(m/(m−1)), 1 + 1e-5 at V = 49152,
    which moves only tokens that close to the floor — over every entry, so that a row holding a
    −inf gets σ = NaN and keeps everything, and compares strictly (``>``), so that n = 0 removes
    every token. text-generation-webui's ``TopNSigmaLogitsWarper`` counts −inf entries as zeros
    in its (Bessel-corrected) σ, a different rule wherever an earlier rule masked tokens.
    transformers has no top-nσ warper.

    **Temperature and place in a chain.** σ and the maximum both scale with the logits, so for
    any T > 0 the kept set of z/T is that of z: top-nσ keeps the same tokens at every temperature
    (the paper's "stable sampling space"), and ``top_n_sigma+temperature`` equals
    ``temperature+top_n_sigma`` up to rounding (exactly where z/T is exact, as for T = 2^−k). Put it **before**
    temperature, on the model's logits, so that its kept set is computed once from the unscaled
    values and is exactly, not just up to rounding, the same for every T of a temperature sweep;
    and before any other truncation (top-k, top-p, min-p, …): σ is the spread of all the logits
    still finite, and after another rule has cut the tail it would be the spread of the few
    survivors, a different and much tighter rule. llama.cpp's default chain has this order
    (penalties, DRY, top-nσ, top-k, typical, top-p, min-p, XTC, temperature).
    """

    n: float = 1.0

    def __post_init__(self):
        require(self.n >= 0, self.name, "n", f"must be >= 0 (standard deviations), got {self.n}")

    def warp(self, logits: torch.Tensor) -> torch.Tensor:
        finite = logits > float("-inf")  # the bad-logits policy rules out NaN and +inf
        count = finite.sum(dim=-1, keepdim=True)
        centred = logits.to(torch.float64, copy=True).masked_fill_(~finite, 0.0)
        mean = centred.sum(dim=-1, keepdim=True) / count
        centred.sub_(mean).masked_fill_(~finite, 0.0)
        sigma = (centred.square_().sum(dim=-1, keepdim=True) / count).sqrt()
        floor = logits.amax(dim=-1, keepdim=True).double() - self.n * sigma
        return logits.masked_fill(logits.double() < floor, float("-inf"))
