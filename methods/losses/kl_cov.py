"""KL-Cov: policy gradient with a KL penalty on the highest-covariance tokens."""

from __future__ import annotations

import dataclasses

import torch

from entropy_bench.methods.losses.base import PolicyLoss, check_policy_inputs
from entropy_bench.methods.losses.clip_cov import PAPER, URL, token_covariance
from entropy_bench.methods.registry import LOSSES, require


@LOSSES.register("kl_cov", paper=PAPER, url=URL)
@dataclasses.dataclass(frozen=True)
class KLCov(PolicyLoss):
    """Importance-weighted policy gradient plus a KL penalty on the top-k tokens by covariance.

    ``loss(logprobs, old_logprobs, advantages, mask)`` (inputs as in ``policy_gradient``). With
    r_t = exp(logprobs_t − old_logprobs_t), cov_t as in ``clip_cov`` (:func:`token_covariance`)
    and I the max(1, ⌊k·N⌋) kept tokens of largest cov_t (k = ``kl_cov_ratio``, N the number of
    kept tokens), β = ``kl_coef``:

        ℓ_t = −A_t r_t + β |logprobs_t − old_logprobs_t| · [t ∈ I]

    The penalty holds the tokens that drain entropy fastest (Cui et al.'s covariance mechanism,
    see ``clip_cov``) close to the sampling policy; |Δ log π| is the authors' per-token KL
    estimate; its gradient is 0 where r_t = 1 (torch's sign(0) = 0), so on the first step of an
    update, with θ = θ_old, the penalty does not act yet. This is the authors' implementation (verl ``compute_policy_loss_kl_cov``: no PPO
    clip), defaults included (k = 2·10⁻⁴, β = 1); the covariance is taken over the batch given.
    """

    kl_cov_ratio: float = 2e-4
    kl_coef: float = 1.0

    def __post_init__(self):
        super().__post_init__()
        require(0 < self.kl_cov_ratio <= 1, self.name, "kl_cov_ratio", f"must be in (0, 1], got {self.kl_cov_ratio}")
        require(self.kl_coef >= 0, self.name, "kl_coef", f"must be >= 0, got {self.kl_coef}")

    def __call__(self, logprobs: torch.Tensor, old_logprobs: torch.Tensor, advantages: torch.Tensor,
                 mask: torch.Tensor) -> torch.Tensor:
        keep = check_policy_inputs(self.name, logprobs, old_logprobs=old_logprobs, advantages=advantages, mask=mask)
        log_ratio = logprobs - old_logprobs
        count = max(int(self.kl_cov_ratio * int(keep.sum())), 1)
        top = token_covariance(logprobs, advantages, keep).flatten().topk(count).indices
        penalised = torch.zeros_like(keep).flatten().index_fill(0, top, True).view_as(keep)
        values = -advantages * log_ratio.exp() + self.kl_coef * log_ratio.abs() * penalised
        return self.reduce_tokens(values, keep)
