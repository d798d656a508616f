"""Parity with transformers' own warpers (``min_tokens_to_keep=1``) on random logit rows.

Rows per decoder and parameter value: 1000 at V=7, 1000 at V=1000 and 64 at V=49152 (2064), with
per-row logit scales from 0.3 (near uniform) to 10 (near one-hot) and −inf entries in about
30% of the rows. In float64 the kept sets are identical on every row. In float32 the rules that
do the same arithmetic as transformers (top_k, min_p, epsilon) are identical too. The others round
differently: the entropy rules (typical, eta, top_h) take their entropy from a different float32
sum, and the ranking rules (top_p, typical) rank only the best few hundred tokens of a row where
that settles the cut-off, so their probabilities come from a softmax of the unsorted row, whose
float32 normaliser is summed in another order than transformers' softmax of the sorted row. A
token whose statistic lies within rounding of the cut-off may then flip. Each such token must be
within ``ROUNDING[rule]`` of the cut-off by the rule's own statistic, recomputed here in float64
(:func:`cut_off_margin`). Wherever the kept sets agree, the probabilities agree to 1e-6.
"""

from __future__ import annotations

import importlib
import math

import pytest
import torch
from transformers.generation.logits_process import (
    EpsilonLogitsWarper,
    EtaLogitsWarper,
    MinPLogitsWarper,
    TopHLogitsWarper,
    TopKLogitsWarper,
    TopPLogitsWarper,
    TypicalLogitsWarper,
)

from entropy_bench.methods.registry import DECODERS

ROWS = {7: 1000, 1000: 1000, 49152: 64}
CHUNK = 32  # rows per call: 32 × 49152 logits and their sort stay small
ROUNDING = {  # per rule, the tolerance on each statistic of cut_off_margins that a float32 flip may be within
    "top_p": (1e-5,),  # probability mass
    "typical": (1e-4, 1e-5),  # nats of distance, probability mass
    "eta": (1e-4,),  # relative to the threshold
    "top_h": (1e-4,),  # nats
}

CASES = [
    ("top_k", "top_k", TopKLogitsWarper, [1, 5, 50]),
    ("top_p", "top_p", TopPLogitsWarper, [0.3, 0.9, 0.99]),
    ("min_p", "min_p", MinPLogitsWarper, [0.01, 0.1, 0.5]),
    ("typical", "typical_p", TypicalLogitsWarper, [0.2, 0.9, 0.99]),
    ("epsilon", "epsilon", EpsilonLogitsWarper, [1e-4, 3e-4, 1e-2]),
    ("eta", "epsilon", EtaLogitsWarper, [1e-4, 3e-4, 1e-2]),
    ("top_h", "top_h", TopHLogitsWarper, [0.2, 0.4, 0.9]),
]


def random_rows(count: int, vocab: int, seed: int) -> torch.Tensor:
    generator = torch.Generator().manual_seed(seed)
    scale = torch.tensor([0.3, 1.0, 3.0, 10.0])[torch.randint(0, 4, (count, 1), generator=generator)]
    logits = torch.randn(count, vocab, generator=generator) * scale
    row_has_masks = torch.rand(count, 1, generator=generator) < 0.3
    masked = (torch.rand(count, vocab, generator=generator) < 0.1) & row_has_masks
    masked[:, 0] = False
    return logits.masked_fill(masked, float("-inf"))


def cut_off_margins(name: str, value: float, logits: torch.Tensor) -> tuple[torch.Tensor, ...]:
    """Each token's rule statistics minus the rule's cut-off, in float64 (kept on one side of 0):
    top_p: the mass up to the token in ascending order − (1 − top_p); typical: its distance
    d_v − d_cut in nats, and the mass of the strictly more typical tokens − typical_p; eta:
    (p_v − η)/η; top_h: partial entropy − top_h·H in nats."""
    x = logits.double()
    logp = x.log_softmax(-1)
    p = logp.exp()
    entropy = -torch.where(p > 0, p * logp, 0.0).sum(-1, keepdim=True)
    if name == "top_p":
        ascending, order = p.sort(-1)
        return (torch.empty_like(x).scatter(-1, order, ascending.cumsum(-1) - (1 - value)),)
    if name == "typical":
        distance = (-logp - entropy).abs()
        nearest, order = distance.sort(-1)
        mass = p.gather(-1, order).cumsum(-1)
        cut = (mass < value).sum(-1, keepdim=True).clamp(max=x.shape[-1] - 1)
        before = torch.empty_like(x).scatter(-1, order, mass - p.gather(-1, order))
        return distance - nearest.gather(-1, cut), before - value
    if name == "eta":
        eta = (math.sqrt(value) * (-entropy).exp()).clamp(max=value)
        return ((p - eta) / eta,)
    top, index = x.topk(min(100, x.shape[-1]), -1)
    log_q = top.log_softmax(-1)
    partial = -torch.where(log_q > float("-inf"), log_q.exp() * log_q, 0.0).cumsum(-1)
    margin = torch.full_like(x, float("inf"))  # tokens outside the candidates are never kept
    return (margin.scatter(-1, index, partial - value * partial[..., -1:]),)


@pytest.fixture(scope="module")
def rows() -> dict[int, torch.Tensor]:
    return {vocab: random_rows(count, vocab, seed=vocab) for vocab, count in ROWS.items()}


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64], ids=str)
@pytest.mark.parametrize("vocab", list(ROWS))
@pytest.mark.parametrize(
    ("name", "field", "warper", "value"),
    [(name, field, warper, value) for name, field, warper, values in CASES for value in values],
    ids=lambda v: v.__name__ if isinstance(v, type) else str(v),
)
def test_same_kept_sets_and_probabilities_as_transformers(rows, name, field, warper, value, vocab, dtype):
    decoder = DECODERS.build(name, **{field: value})
    processor = warper(value) if name != "typical" else warper(mass=value)
    logits = rows[vocab].to(dtype)
    ours = torch.cat([decoder(chunk)[0] for chunk in logits.split(CHUNK)])
    theirs = torch.cat([processor(None, chunk) for chunk in logits.split(CHUNK)])

    differ = ours.isfinite() != theirs.isfinite()
    if dtype == torch.float32 and name in ROUNDING:
        margins = cut_off_margins(name, value, logits)
        near = torch.stack([m[differ].abs() <= tol for m, tol in zip(margins, ROUNDING[name], strict=True)]).any(0)
        gaps = [f"{m[differ][~near].abs().min().item():.2e}" for m in margins] if not near.all() else []
        assert near.all(), f"{(~near).sum().item()} flipped tokens are not within rounding of the cut-off: {gaps}"
    else:
        assert not differ.any(), f"{differ.any(-1).sum().item()} of {len(logits)} rows keep other tokens"
    same = ~differ.any(-1)
    torch.testing.assert_close(ours[same].softmax(-1), theirs[same].softmax(-1), rtol=0, atol=1e-6)


@pytest.mark.parametrize(
    ("name", "field", "warper", "value", "sizes"),
    [
        ("top_p", "top_p", TopPLogitsWarper, 0.9, [256, 49152]),
        ("top_p", "top_p", TopPLogitsWarper, 0.99, [256, 49152]),
        ("typical", "typical_p", TypicalLogitsWarper, 0.5, [256, 49152]),
        ("typical", "typical_p", TypicalLogitsWarper, 0.99, [256, 49152]),
    ],
    ids=lambda v: v.__name__ if isinstance(v, type) else str(v),
)
def test_rows_settled_at_each_candidate_size_match_transformers_exactly_in_float64(monkeypatch, name, field, warper, value, sizes):
    # Zipf rows (p ∝ rank^−s), peaked to flat, in one batch: the ranking rules settle them from
    # 256 candidates or from the whole row (radix selection), and both are used.
    module = importlib.import_module(f"entropy_bench.methods.decoders.{name}")
    tried, by_candidates = [], module.by_candidates

    def spy(logits, warp_top, needed):
        return by_candidates(logits, lambda rows, k: tried.append(k) or warp_top(rows, k), needed)

    monkeypatch.setattr(module, "by_candidates", spy)
    ranks = torch.arange(1, 49153, dtype=torch.float64)
    logits = torch.stack([-s * ranks.log() for s in (2.0, 1.6, 1.3, 1.2, 1.0, 0.6, 0.1)])
    logits = logits[:, torch.randperm(49152, generator=torch.Generator().manual_seed(0))]
    ours, _ = DECODERS.build(name, **{field: value})(logits)
    theirs = (warper(mass=value) if name == "typical" else warper(value))(None, logits)
    assert tried == sizes
    assert torch.equal(ours.isfinite(), theirs.isfinite())
    torch.testing.assert_close(ours.softmax(-1), theirs.softmax(-1), rtol=0, atol=1e-12)
