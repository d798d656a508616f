"""Policy gradient on token log-probabilities, with an entropy bonus."""

from __future__ import annotations

import dataclasses

import torch

from entropy_bench.methods.losses.base import PolicyLoss, check_policy_inputs
from entropy_bench.methods.registry import LOSSES, require


@LOSSES.register(
    "policy_gradient",
    paper="Williams & Peng (1991), Function Optimization using Connectionist Reinforcement Learning Algorithms",
    url="https://doi.org/10.1080/09540099108946587",
)
@dataclasses.dataclass(frozen=True)
class PolicyGradient(PolicyLoss):
    """Importance-weighted REINFORCE surrogate minus an entropy bonus, per generated token.

    ``loss(logprobs, old_logprobs, advantages, mask, entropy=None)``, all of one shape (one entry
    per token, e.g. [B, T]):

    - ``logprobs``: log π_θ(y_t | y_<t) of the sampled tokens under the policy being trained;
    - ``old_logprobs``: the same under the policy that sampled them (constants);
    - ``advantages``: A_t (constants; GRPO broadcasts a sequence's advantage over its tokens);
    - ``mask``: True (or non-zero) on the tokens that count (the response, not prompt or padding);
    - ``entropy``: H_t of π_θ at each token, differentiable (e.g. from
      ``linear_cross_entropy(..., return_entropy=True)``); required when β > 0.

    With r_t = exp(logprobs_t − old_logprobs_t) and β = ``entropy_coef``:

        ℓ_t = −r_t A_t − β H_t

    reduced over the tokens in ``mask``. At θ = θ_old (r = 1) the gradient is REINFORCE's,
    −A_t ∇log π_θ(y_t) (Williams 1992), and the entropy term is the bonus of Williams & Peng
    (1991) that keeps the policy from collapsing early; off-policy steps are importance-weighted
    without clipping (``clip_cov`` clips like PPO).
    """

    entropy_coef: float = 0.0

    def __post_init__(self):
        super().__post_init__()
        require(self.entropy_coef >= 0, self.name, "entropy_coef", f"must be >= 0, got {self.entropy_coef}")

    def __call__(self, logprobs: torch.Tensor, old_logprobs: torch.Tensor, advantages: torch.Tensor,
                 mask: torch.Tensor, entropy: torch.Tensor | None = None) -> torch.Tensor:
        require(entropy is not None or self.entropy_coef == 0, self.name, "entropy",
                f"is required with entropy_coef={self.entropy_coef}")
        others = {} if entropy is None else {"entropy": entropy}
        keep = check_policy_inputs(self.name, logprobs, old_logprobs=old_logprobs, advantages=advantages,
                                   mask=mask, **others)
        values = -torch.exp(logprobs - old_logprobs) * advantages
        if entropy is not None:
            values = values - self.entropy_coef * entropy
        return self.reduce_tokens(values, keep)
