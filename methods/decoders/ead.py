"""Entropy-adaptive decoding (EAD): a small model decodes, a large one takes over while it is unsure."""

from __future__ import annotations

import dataclasses
import math
from typing import ClassVar, NamedTuple

import torch

from entropy_bench.kernels.softmax_stats import softmax_stats
from entropy_bench.methods.decoders.greedy import Greedy
from entropy_bench.methods.registry import DECODERS, require

PAPER = (
    "Simonds (2025), Entropy Adaptive Decoding: Dynamic Model Switching for Efficient Inference "
    "(arXiv:2502.06833)"
)
URL = "https://arxiv.org/abs/2502.06833"


class RollingEntropy(NamedTuple):
    """Per-row state: the small model's last ``window`` entropies (oldest first; zeros before the
    first steps) and the number of steps seen so far."""

    entropies: torch.Tensor  # [B, window]
    steps: torch.Tensor  # [B]


@DECODERS.register("ead", paper=PAPER, url=URL)
@dataclasses.dataclass(frozen=True)
class EntropyAdaptive(Greedy):
    """Greedy decoding that switches to ``large_model`` while the small model's rolling entropy is high.

    The small model (the cell's model) runs at every step t. With H_t = H(softmax(z_small_t)) in
    nats and w = ``window``, the rolling mean over the row's last min(t + 1, w) steps is

        H̄_t = (1 / min(t + 1, w)) · Σ_{s = max(0, t − w + 1)}^{t} H_s

    and the row uses the large model's logits at step t iff H̄_t > ``threshold``; the token is
    then the argmax of the logits in use. ``threshold = +inf`` is greedy with the small model,
    ``threshold = −inf`` greedy with the large one. There is no verification step (unlike
    speculative decoding): the output may differ from the large model's. The paper does not give
    its window or threshold; the threshold sweep traces score against cost.

    ``large_model`` is a model spec (hub id, directory, ``…#layers=N``) sharing the small model's
    tokenizer; the generation loop loads it and calls :meth:`route` before each step.
    """

    large_model: str = "HuggingFaceTB/SmolLM2-135M-Instruct"
    threshold: float = 1.0
    window: int = 1

    infinite_params: ClassVar[frozenset[str]] = frozenset({"threshold"})  # ±inf: one model only

    def __post_init__(self):
        require(isinstance(self.large_model, str) and bool(self.large_model), self.name, "large_model",
                f"must be a model spec (hub id or directory), got {self.large_model!r}")
        require(not math.isnan(self.threshold), self.name, "threshold", "must be a number of nats (±inf allowed), got nan")
        require(isinstance(self.window, int) and self.window >= 1, self.name, "window",
                f"must be an integer >= 1, got {self.window!r}")

    def init_state(self, batch_size: int, device: torch.device) -> RollingEntropy:
        return RollingEntropy(
            torch.zeros(batch_size, self.window, device=device),
            torch.zeros(batch_size, dtype=torch.long, device=device),
        )

    def route(self, logits: torch.Tensor, state: RollingEntropy | None) -> tuple[torch.Tensor, RollingEntropy]:
        """``(use_large[B], state')`` from the small model's logits[B, V] at this step (class docstring)."""
        state = self.init_state(logits.shape[0], logits.device) if state is None else state
        entropy = softmax_stats(logits).entropy.to(state.entropies.dtype)
        entropies = torch.cat([state.entropies[:, 1:], entropy.unsqueeze(-1)], dim=-1)
        steps = state.steps + 1
        rolling = entropies.sum(-1) / steps.clamp(max=self.window)
        return rolling > self.threshold, RollingEntropy(entropies, steps)
