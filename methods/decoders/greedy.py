"""Greedy decoding."""

from __future__ import annotations

import dataclasses

import torch

from entropy_bench.methods.decoders.base import Decoder, mask_outside
from entropy_bench.methods.registry import DECODERS


@DECODERS.register("greedy", paper="(baseline) argmax decoding")
@dataclasses.dataclass(frozen=True)
class Greedy(Decoder):
    """Keep only the most probable token: ``x_t = argmax_v logits[v]`` (first index on ties)."""

    deterministic = True

    def warp(self, logits: torch.Tensor) -> torch.Tensor:
        return mask_outside(logits, torch.zeros_like(logits, dtype=torch.bool))
