"""Softmax statistics of a logit matrix in one pass.

For each row of logits z[N, V], with p = softmax(z) and log p = z − logsumexp(z):

    lse         = log Σ_v exp(z_v)
    entropy     = H(p)    = −Σ_v p_v log p_v
    varentropy  = Var_p[−log p] = Σ_v p_v (log p_v)² − H(p)²
    max_logprob = max_v log p_v
    target_logprob = log p_{y}          (when targets y[N] are given)

Entries equal to −inf contribute nothing (0 · log 0 = 0).
"""

from __future__ import annotations

from typing import NamedTuple

import torch


class SoftmaxStats(NamedTuple):
    lse: torch.Tensor
    entropy: torch.Tensor
    varentropy: torch.Tensor
    max_logprob: torch.Tensor
    target_logprob: torch.Tensor | None


def softmax_stats_reference(logits: torch.Tensor, targets: torch.Tensor | None = None) -> SoftmaxStats:
    """fp32 multi-pass reference: materialises log p and p."""
    z = logits.float()
    lse = torch.logsumexp(z, dim=-1)
    logp = z - lse.unsqueeze(-1)
    p = logp.exp()
    plogp = torch.where(p > 0, p * logp, torch.zeros_like(p))
    entropy = -plogp.sum(-1)
    second = torch.where(p > 0, p * logp * logp, torch.zeros_like(p)).sum(-1)
    varentropy = (second - entropy * entropy).clamp_min(0)
    max_logprob = logp.max(dim=-1).values
    target = None if targets is None else logp.gather(-1, targets.unsqueeze(-1)).squeeze(-1)
    return SoftmaxStats(lse, entropy, varentropy, max_logprob, target)


def softmax_stats(logits: torch.Tensor, targets: torch.Tensor | None = None) -> SoftmaxStats:
    """Softmax statistics of ``logits[..., V]`` (see module docstring)."""
    return softmax_stats_reference(logits, targets)
