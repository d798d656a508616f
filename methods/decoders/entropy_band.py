"""Entropy-aware decoding: keep each step's entropy inside a stable band."""

from __future__ import annotations

import dataclasses

import torch

from entropy_bench.kernels.softmax_stats import SoftmaxStats, softmax_stats
from entropy_bench.methods.decoders.base import Decoder
from entropy_bench.methods.registry import DECODERS, require

LOG_T_RANGE = 9.0  # temperatures searched: exp(±9), about 1.2e-4 … 8.1e3
TOLERANCE = 1e-6  # nats: |H − target| at which a row's search stops
MAX_STEPS = 64  # safeguarded Newton steps; a reachable target takes 5–9, an unreachable one bisects to the range's end

def band_from_reference(entropies: torch.Tensor, num_std: float = 1.0) -> tuple[float, float]:
    """A band ``(lower, upper) = (max(0, m − num_std·s), m + num_std·s)`` in nats, where m and s are
    the mean and standard deviation of the finite per-token entropies of reference (human) text.

    The paper's stable entropy zone is the mean entropy of the model on human text, as a function
    of the position, ± a multiple of its standard deviation; since that mean is nearly flat, one
    band for all positions is its flat approximation. NaN (padding) entries are ignored.
    """
    require(num_std >= 0, "band_from_reference", "num_std", f"must be ≥ 0, got {num_std}")
    values = entropies[torch.isfinite(entropies)].double()
    require(values.numel() >= 2, "band_from_reference", "entropies", "needs at least two finite values")
    mean, std = values.mean().item(), values.std().item()
    return max(0.0, mean - num_std * std), mean + num_std * std


def temperature_for_entropy(
    logits: torch.Tensor, target: torch.Tensor, at_one: SoftmaxStats | None = None
) -> torch.Tensor:
    """Per-row temperature T[B] with ``H(softmax(logits / T)) = target`` (nats).

    Newton's method on u = log T, from T = 1: with p ∝ exp(z / T), dH/du = Var_p[−log p], the
    varentropy that ``softmax_stats`` returns with H in the same pass, so u ← u − (H − target) /
    varentropy. H rises monotonically with u, from log(#tied maxima) at T → 0 to log(#finite logits)
    at T → ∞, so each evaluation also narrows a bracket [low, high] around the root (initially
    ±``LOG_T_RANGE``); a Newton step that leaves it (or divides by a zero varentropy) is replaced by
    the bracket's midpoint. A row stops once |H − target| ≤ ``TOLERANCE`` or its bracket is below
    1e-9; a target outside the reachable range gets the nearest end of ``exp(±LOG_T_RANGE)``.
    ``at_one``: ``softmax_stats(logits)`` where the caller has it (the first step's evaluation).
    """
    u = torch.zeros_like(target)
    low = torch.full_like(target, -LOG_T_RANGE)
    high = torch.full_like(target, LOG_T_RANGE)
    active = torch.arange(target.shape[0], device=target.device)
    for step in range(MAX_STEPS):
        at = u[active]
        if step == 0 and at_one is not None:
            stats = at_one
        else:
            stats = softmax_stats(logits[active] / at.exp().unsqueeze(-1))
        error = stats.entropy - target[active]
        too_hot = error > 0
        lo = torch.where(too_hot, low[active], at)
        hi = torch.where(too_hot, at, high[active])
        newton = at - error / stats.varentropy
        proposal = torch.where((newton > lo) & (newton < hi), newton, (lo + hi) / 2)
        done = (error.abs() <= TOLERANCE) | (hi - lo <= 1e-9)
        low[active], high[active] = lo, hi
        u[active] = torch.where(done, at, proposal)
        active = active[~done]
        if active.numel() == 0:
            break
    return u.exp()


@DECODERS.register(
    "entropy_band",
    paper=(
        "Arora, O'Donnell, Precup, Weston & Cheung (2023), The Stable Entropy Hypothesis and "
        "Entropy-Aware Decoding: An Analysis and Algorithm for Robust Natural Language Generation"
    ),
    url="https://arxiv.org/abs/2302.06784",
)
@dataclasses.dataclass(frozen=True)
class EntropyBand(Decoder):
    """Keep the step's entropy inside ``[lower, upper]`` (nats) by rescaling its temperature.

    With H the entropy of softmax(logits): if ``lower ≤ H ≤ upper`` the logits pass unchanged;
    otherwise they are divided by the temperature T with ``H(softmax(logits / T))`` equal to the
    violated bound — T > 1 lifts a collapsing step (H < lower: repetition, copying) up to
    ``lower``, T < 1 pulls an incoherent one (H > upper) down to ``upper``. No token is masked.
    Derive the band from reference text with :func:`band_from_reference`.

    The intervention is this suite's single-step rule, not the paper's algorithm: it reads the
    step's own entropy (no smoothing window, no look-back) and makes the smallest change of
    temperature that lands on the band.
    """

    lower: float
    upper: float

    def __post_init__(self):
        require(self.lower >= 0, self.name, "lower", f"must be ≥ 0 (nats), got {self.lower}")
        require(self.upper >= self.lower, self.name, "upper", f"must be ≥ lower={self.lower}, got {self.upper}")

    def warp(self, logits: torch.Tensor) -> torch.Tensor:
        stats = softmax_stats(logits)
        outside = (stats.entropy < self.lower) | (stats.entropy > self.upper)
        temperature = torch.ones_like(stats.entropy)
        target = stats.entropy[outside].clamp(self.lower, self.upper)
        at_one = SoftmaxStats(*(None if x is None else x[outside] for x in stats))
        temperature[outside] = temperature_for_entropy(logits[outside], target, at_one)
        return logits / temperature.to(logits.dtype).unsqueeze(-1)
