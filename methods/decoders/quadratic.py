"""Quadratic ("smooth") sampling: the logits bent by a quadratic (or cubic) curve through the maximum."""

from __future__ import annotations

import dataclasses

import torch

from entropy_bench.methods.decoders.base import Decoder
from entropy_bench.methods.registry import DECODERS, require


@DECODERS.register(
    "quadratic",
    paper=(
        "kalomaze (2024), Quadratic sampling (text-generation-webui PR #5403) and its cubic "
        "smoothing_curve (PR #5551); no paper"
    ),
    url="https://github.com/oobabooga/text-generation-webui/pull/5403",
)
@dataclasses.dataclass(frozen=True)
class Quadratic(Decoder):
    """Replace each logit by a quadratic-plus-cubic function of its distance below the row's maximum.

    With d_v = z_v − max_u z_u ≤ 0, f = ``smoothing_factor`` and c = ``smoothing_curve``,

        z'_v = max_u z_u − k·f·d_v² + s·f·d_v³,   k = (3 − c)/2,  s = (c − 1)/2

    for every finite z_v; −inf entries stay −inf, and no finite token is removed (a value that
    would overflow is clamped to the dtype's most negative finite number). This is
    text-generation-webui's ``QuadraticSamplingLogitsWarper`` (modules/sampler_hijack.py),
    except that the maximum is each row's own: the reference takes ``scores.max()`` over the
    whole batch, so there a row's output depends on the other rows. The arithmetic runs in
    float64, as ``max + f·d²·(s·d − k)`` (no ∞ − ∞ for extreme logits).

    The defaults: ``smoothing_curve=1`` is the reference's (k = 1, s = 0: the plain quadratic of
    kalomaze's first version, z' = max − f·d², so p'_v ∝ exp(−f·d_v²)); the reference's
    ``smoothing_factor`` defaults to 0, meaning "off" (the warper is not added), and 0.25 here is
    a working value. In log-odds against the top token, d becomes −f·d²: tokens within 1/f nats
    of the maximum gain probability relative to the untransformed distribution (a flatter top),
    tokens further below lose it (a thinner tail). f → 0 tends to the uniform distribution over
    the support (so 0 is refused rather than read as "off"), large f to greedy.

    c ranges over [1, ∞): below 1 the cubic term has the wrong sign and lifts the far tail above
    the maximum without bound. For 1 ≤ c ≤ 3 (k, s ≥ 0) the map is increasing in z, so no two
    tokens change order; for c > 3 (k < 0; the reference's UI slider goes to 10) tokens within
    (c − 3)/(c − 1) nats of the maximum are lifted above it (by up to 0.31·f at c = 10), as in
    the reference. text-generation-webui applies it after temperature (its default sampler
    priority: temperature, dynamic temperature, quadratic sampling, then the truncation rules);
    since the curve is not scale-invariant, temperature before and after it differ.
    """

    smoothing_factor: float = 0.25
    smoothing_curve: float = 1.0

    def __post_init__(self):
        require(self.smoothing_factor > 0, self.name, "smoothing_factor",
                f"must be > 0 (0 flattens every row to uniform), got {self.smoothing_factor}")
        require(self.smoothing_curve >= 1, self.name, "smoothing_curve",
                f"must be >= 1 (below 1 the far tail rises above the maximum), got {self.smoothing_curve}")

    def warp(self, logits: torch.Tensor) -> torch.Tensor:
        k = (3 - self.smoothing_curve) / 2
        s = (self.smoothing_curve - 1) / 2
        top = logits.amax(dim=-1, keepdim=True).double()
        d = logits.to(torch.float64, copy=True).sub_(top)
        slope = d.mul(s).sub_(k) if s else torch.tensor(-k, dtype=torch.float64, device=logits.device)
        bent = torch.addcmul(top, d.square_(), slope, value=self.smoothing_factor)
        bent = bent.clamp_(min=torch.finfo(logits.dtype).min).to(logits.dtype)
        return torch.where(logits > float("-inf"), bent, logits)
