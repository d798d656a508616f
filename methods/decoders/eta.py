"""Eta sampling."""

from __future__ import annotations

import dataclasses
import math

import torch

from entropy_bench.kernels.softmax_stats import softmax_stats
from entropy_bench.methods.decoders.base import Decoder
from entropy_bench.methods.registry import DECODERS, require


@DECODERS.register(
    "eta",
    paper="Hewitt, Manning & Liang (2022), Truncation Sampling as Language Model Desmoothing",
    url="https://arxiv.org/abs/2210.15191",
)
@dataclasses.dataclass(frozen=True)
class Eta(Decoder):
    """Keep the tokens whose probability reaches a threshold that falls as the entropy rises.

    Token v is kept iff ``p_v ≥ η``, with ``η = min(epsilon, √epsilon · exp(−H))`` and H the
    step's entropy in nats, or if its logit is the row's maximum (all tokens tied with it, as the
    ``min_tokens_to_keep`` fallback of transformers keeps them; p_max ≥ exp(−H) > η, so the
    fallback only matters in rounding).

    A flat distribution (high H) gets a low threshold, a peaked one at most ``epsilon``. The paper
    writes η = min(ε, α·exp(−H)) and sets α = √ε, as transformers' ``EtaLogitsWarper`` does
    (``min_tokens_to_keep=1``).
    """

    epsilon: float = 3e-4

    def __post_init__(self):
        require(0 < self.epsilon < 1, self.name, "epsilon", f"must be in (0, 1), got {self.epsilon}")

    def warp(self, logits: torch.Tensor) -> torch.Tensor:
        probs = logits.softmax(dim=-1)
        entropy = softmax_stats(logits).entropy.to(probs.dtype)
        eta = (math.sqrt(self.epsilon) * torch.exp(-entropy)).clamp(max=self.epsilon)
        keep = (probs >= eta.unsqueeze(-1)) | (logits >= logits.amax(dim=-1, keepdim=True))
        return torch.where(keep, logits, float("-inf"))
