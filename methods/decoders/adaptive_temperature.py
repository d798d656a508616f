"""Entropy-adaptive temperature (HAPO's Adaptive Temperature Sampling)."""

from __future__ import annotations

import dataclasses
import math

import torch

from entropy_bench.kernels.softmax_stats import softmax_stats
from entropy_bench.methods.decoders.base import Decoder
from entropy_bench.methods.registry import DECODERS, require


def anchors_from_reference(entropies: torch.Tensor) -> tuple[float, float, float]:
    """``(entropy_low, entropy_mid, entropy_high)``: the minimum, median and maximum of the positive
    finite per-token entropies of reference generations (HAPO takes them from the previous batch
    of rollouts; zero and NaN entries are ignored, as HAPO's response mask does)."""
    values = entropies[torch.isfinite(entropies) & (entropies > 0)].double()
    require(values.numel() >= 3, "anchors_from_reference", "entropies", "needs at least three positive values")
    return values.min().item(), values.median().item(), values.max().item()


@DECODERS.register(
    "adaptive_temperature",
    paper=(
        "Liu et al. (2025), From Uniform to Heterogeneous: Tailoring Policy Optimization to Every "
        "Token's Nature (HAPO), Adaptive Temperature Sampling"
    ),
    url="https://arxiv.org/abs/2509.16591",
)
@dataclasses.dataclass(frozen=True)
class AdaptiveTemperature(Decoder):
    """Sample at a temperature that rises with the step's entropy H (nats).

        T(H) = temperature · (1 + spread · ĥ(H)),
        ĥ(H) = clip(log(H / entropy_mid) / log(entropy_high / entropy_mid), 0, 1)   if H ≥ entropy_mid,
        ĥ(H) = −clip(log(entropy_mid / H) / log(entropy_mid / entropy_low), 0, 1)  if H < entropy_mid,

    so T runs from ``temperature · (1 − spread)`` at or below ``entropy_low`` through
    ``temperature`` at ``entropy_mid`` to ``temperature · (1 + spread)`` at or above
    ``entropy_high``, linearly in log-entropy on each side: high-entropy steps explore, low-entropy
    steps stay coherent. No token is masked.

    In HAPO's released code ĥ is (log H − median)/std rescaled by the largest positive and negative
    deviation of the previous batch, which is the piecewise-linear map above with anchors at the
    minimum, median and maximum log-entropy (:func:`anchors_from_reference`); ``spread`` is its
    ``temperature_tau`` (default 0.05). That code divides the negative side by a negative number,
    which makes ĥ ≥ 0 for low-entropy tokens too; we follow the paper's description (lower
    temperature at low entropy).
    """

    entropy_low: float
    entropy_mid: float
    entropy_high: float
    temperature: float = 1.0
    spread: float = 0.05

    def __post_init__(self):
        require(self.entropy_low > 0, self.name, "entropy_low", f"must be > 0 (nats), got {self.entropy_low}")
        require(
            self.entropy_mid > self.entropy_low,
            self.name,
            "entropy_mid",
            f"must be > entropy_low={self.entropy_low}, got {self.entropy_mid}",
        )
        require(
            self.entropy_high > self.entropy_mid,
            self.name,
            "entropy_high",
            f"must be > entropy_mid={self.entropy_mid}, got {self.entropy_high}",
        )
        require(self.temperature > 0, self.name, "temperature", f"must be > 0, got {self.temperature}")
        require(0 <= self.spread < 1, self.name, "spread", f"must be in [0, 1), got {self.spread}")

    def temperatures(self, logits: torch.Tensor) -> torch.Tensor:
        """T[B] of the formula above, from each row's entropy."""
        log_ratio = torch.log(softmax_stats(logits).entropy / self.entropy_mid)
        above = log_ratio / math.log(self.entropy_high / self.entropy_mid)
        below = log_ratio / math.log(self.entropy_mid / self.entropy_low)
        h_hat = torch.where(log_ratio >= 0, above, below).clamp(-1, 1)
        return self.temperature * (1 + self.spread * h_hat)

    def warp(self, logits: torch.Tensor) -> torch.Tensor:
        return logits / self.temperatures(logits).to(logits.dtype).unsqueeze(-1)
