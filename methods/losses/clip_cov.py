"""Clip-Cov: PPO with the gradient of a few high-covariance tokens detached."""

from __future__ import annotations

import dataclasses

import torch

from entropy_bench.methods.losses.base import PolicyLoss, check_policy_inputs
from entropy_bench.methods.registry import LOSSES, require

PAPER = "Cui et al. (2025), The Entropy Mechanism of Reinforcement Learning for Reasoning Language Models"
URL = "https://arxiv.org/abs/2505.22617"


def token_covariance(logprobs: torch.Tensor, advantages: torch.Tensor, keep: torch.Tensor) -> torch.Tensor:
    """Each kept token's term of Cov(log π, A) over the kept tokens; −inf elsewhere (no gradient).

        cov_t = (log π(y_t) − mean log π) · (A_t − mean A),   means over the tokens in ``keep``
    """
    with torch.no_grad():
        count = keep.sum()
        centred_logprobs = logprobs - logprobs.masked_fill(~keep, 0).sum() / count
        centred_advantages = advantages - advantages.masked_fill(~keep, 0).sum() / count
        return (centred_logprobs * centred_advantages).masked_fill(~keep, float("-inf"))


@LOSSES.register("clip_cov", paper=PAPER, url=URL)
@dataclasses.dataclass(frozen=True)
class ClipCov(PolicyLoss):
    """PPO's clipped surrogate, with a random few tokens of moderately high covariance detached.

    ``loss(logprobs, old_logprobs, advantages, mask, generator=None)`` (inputs as in
    ``policy_gradient``). The paper's entropy mechanism: under a softmax policy one step changes
    the entropy by ≈ −Cov_{a~π}(log π(a), Δz_a), and policy gradient makes Δz_a ∝ π(a)·A(a), so
    tokens where log-probability and advantage move together drain entropy. Per token, with
    r_t = exp(logprobs_t − old_logprobs_t), ε_l, ε_h = ``clip_ratio_low``, ``clip_ratio_high``:

        ℓ_t = max(−A_t r_t, −A_t clip(r_t, 1 − ε_l, 1 + ε_h))       (PPO)
        cov_t = (log π_t − mean log π)(A_t − mean A)                  (:func:`token_covariance`)

    Among the kept tokens that PPO does not already clip and whose cov_t lies strictly between
    ``clip_cov_lb`` and ``clip_cov_ub``, max(1, ⌊r·N⌋) are drawn uniformly at random (r =
    ``clip_cov_ratio``, N the number of kept tokens) and their ℓ_t set to 0, detaching their
    gradient. This is the authors' implementation (PRIME-RL/Entropy-Mechanism-of-RL, merged
    into verl as ``compute_policy_loss_clip_cov``), defaults included (r = 2·10⁻⁴, bounds 1 and 5,
    ε = 0.2); the covariance is taken over the batch given. ``generator`` (on the inputs'
    device) makes the draw reproducible.
    """

    clip_cov_ratio: float = 2e-4
    clip_cov_lb: float = 1.0
    clip_cov_ub: float = 5.0
    clip_ratio_low: float = 0.2
    clip_ratio_high: float = 0.2

    def __post_init__(self):
        super().__post_init__()
        require(0 < self.clip_cov_ratio <= 1, self.name, "clip_cov_ratio", f"must be in (0, 1], got {self.clip_cov_ratio}")
        require(self.clip_cov_lb < self.clip_cov_ub, self.name, "clip_cov_ub",
                f"must be > clip_cov_lb={self.clip_cov_lb}, got {self.clip_cov_ub}")
        require(0 <= self.clip_ratio_low < 1, self.name, "clip_ratio_low", f"must be in [0, 1), got {self.clip_ratio_low}")
        require(self.clip_ratio_high >= 0, self.name, "clip_ratio_high", f"must be >= 0, got {self.clip_ratio_high}")

    def __call__(self, logprobs: torch.Tensor, old_logprobs: torch.Tensor, advantages: torch.Tensor,
                 mask: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        keep = check_policy_inputs(self.name, logprobs, old_logprobs=old_logprobs, advantages=advantages, mask=mask)
        ratio = torch.exp(logprobs - old_logprobs)
        unclipped = -advantages * ratio
        clipped = -advantages * ratio.clamp(1 - self.clip_ratio_low, 1 + self.clip_ratio_high)
        cov = token_covariance(logprobs, advantages, keep)
        candidates = keep & (clipped <= unclipped) & (cov > self.clip_cov_lb) & (cov < self.clip_cov_ub)
        count = min(max(int(self.clip_cov_ratio * int(keep.sum())), 1), int(candidates.sum()))
        keys = torch.rand(keep.shape, generator=generator, device=keep.device).masked_fill(~candidates, 2.0)
        detached = torch.zeros_like(keep).flatten().index_fill(0, keys.flatten().topk(count, largest=False).indices, True)
        values = torch.maximum(unclipped, clipped).masked_fill(detached.view_as(keep), 0)
        return self.reduce_tokens(values, keep)
