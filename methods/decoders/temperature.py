"""Temperature scaling."""

from __future__ import annotations

import dataclasses

import torch

from entropy_bench.methods.decoders.base import Decoder
from entropy_bench.methods.registry import DECODERS, require


@DECODERS.register(
    "temperature",
    paper="Ackley, Hinton & Sejnowski (1985), A Learning Algorithm for Boltzmann Machines",
    url="https://doi.org/10.1207/s15516709cog0901_7",
)
@dataclasses.dataclass(frozen=True)
class Temperature(Decoder):
    """Sample from ``softmax(logits / temperature)``; ``temperature=1`` is the model's distribution."""

    temperature: float = 1.0

    def __post_init__(self):
        require(self.temperature > 0, self.name, "temperature", f"must be > 0, got {self.temperature}")

    def warp(self, logits: torch.Tensor) -> torch.Tensor:
        return logits / self.temperature
