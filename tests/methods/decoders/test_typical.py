import math

import pytest
import torch

from transformers.generation.logits_process import TypicalLogitsWarper

from entropy_bench.methods.decoders.typical import Typical
from entropy_bench.methods.registry import InvalidParameterError


def typicality_order(probs: list[float]) -> list[tuple[int, float]]:
    """(token, cumulative mass) in order of d = |−log p − H|, by the rule's definition."""
    entropy = -sum(p * math.log(p) for p in probs)
    order = sorted(range(len(probs)), key=lambda v: abs(-math.log(probs[v]) - entropy))
    masses = [sum(probs[v] for v in order[: i + 1]) for i in range(len(order))]
    return list(zip(order, masses))


def test_hand_derived_order():
    # H = 1.0627 nats; surprises 0.511, 1.609, 1.897, 2.996 → d = 0.552, 0.547, 0.834, 1.933.
    order = typicality_order([0.6, 0.2, 0.15, 0.05])
    assert [v for v, _ in order] == [1, 0, 2, 3]
    assert [round(m, 2) for _, m in order] == [0.2, 0.8, 0.95, 1.0]


@pytest.mark.parametrize(
    ("typical_p", "kept"),
    [
        (0.1, [False, True, False, False]),  # the most typical token alone reaches 0.1: the argmax goes
        (0.5, [True, True, False, False]),  # 0.2 < 0.5 ≤ 0.8
        (0.9, [True, True, True, False]),  # 0.8 < 0.9 ≤ 0.95
        (0.99, [True, True, True, True]),
    ],
)
def test_keeps_the_most_typical_tokens_up_to_typical_p(typical_p, kept):
    logits = torch.tensor([[0.6, 0.2, 0.15, 0.05]]).log()
    assert Typical(typical_p=typical_p)(logits)[0].isfinite().tolist() == [kept]


def test_tokens_tied_in_typicality_are_kept_together_and_the_argmax_may_go():
    # p = (0.4, 0.3, 0.3): H = 1.0889, d = (0.173, 0.115, 0.115). The tied pair comes first; its first
    # token already reaches 0.2, and its twin stays with it. The argmax is the least typical.
    logits = torch.tensor([[0.4, 0.3, 0.3]]).log()
    assert Typical(typical_p=0.2)(logits)[0].isfinite().tolist() == [[False, True, True]]


def test_tiny_typical_p_keeps_the_most_typical_token():
    logits = torch.tensor([[0.6, 0.2, 0.15, 0.05]]).log()
    assert Typical(typical_p=1e-9)(logits)[0].isfinite().tolist() == [[False, True, False, False]]


def cut_off_margins(logits: torch.Tensor, typical_p: float) -> tuple[torch.Tensor, torch.Tensor]:
    """In float64, each token's distance minus the cut-off distance (nats) and the mass of the
    tokens ranked before it minus ``typical_p``: a token is on the other side of the cut-off from
    where the exact rule puts it only if rounding moved one of these across 0."""
    logp = logits.double().log_softmax(-1)
    p = logp.exp()
    entropy = -torch.where(p > 0, p * logp, 0.0).sum(-1, keepdim=True)
    distance = (-logp - entropy).abs()
    nearest, order = distance.sort(-1)
    mass = p.gather(-1, order).cumsum(-1)
    cut = (mass < typical_p).sum(-1, keepdim=True).clamp(max=logits.shape[-1] - 1)
    before = torch.empty_like(p).scatter(-1, order, mass - p.gather(-1, order))
    return distance - nearest.gather(-1, cut), before - typical_p


@pytest.mark.parametrize("typical_p", [0.2, 0.9, 0.99])
@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16], ids=str)
def test_half_precision_input_gets_the_exact_kept_set(typical_p, dtype):
    # bf16/fp16 logits are exact in float64, so the exact answer is the float64 rule on the same
    # values (transformers' warper in float64). Computed in the input dtype, every log p carries
    # its rounding, 2^-9 · |log p| in bf16 (~1e-2 nats at |log p| = 5), and transformers' own warper
    # on the bf16 batch keeps tens of wrong tokens. The rule computes in float32, so a token may
    # only land on the wrong side of the cut-off when it lies within float32 rounding of it, taken
    # as 2^-16 ≈ 1.5e-5 nats of distance or of mass (bf16's rounding at |log p| = 1, scaled by 2^-7).
    tolerance = 2.0**-16
    generator = torch.Generator().manual_seed(0)
    scale = torch.tensor([0.3, 1.0, 3.0, 10.0]).repeat(4).unsqueeze(-1)
    logits = (torch.randn(16, 1000, generator=generator) * scale).to(dtype)
    ours, _ = Typical(typical_p=typical_p)(logits)
    exact = TypicalLogitsWarper(mass=typical_p)(None, logits.double())
    assert ours.dtype == dtype
    assert torch.equal(ours[ours.isfinite()], logits[ours.isfinite()])
    differ = ours.isfinite() != exact.isfinite()
    near = torch.stack([m[differ].abs() <= tolerance for m in cut_off_margins(logits, typical_p)]).any(0)
    assert near.all(), f"{(~near).sum().item()} of {differ.sum().item()} differing tokens are not within rounding of the cut-off"


@pytest.mark.parametrize("typical_p", [0.0, 1.01])
def test_rejects_typical_p_outside_0_1(typical_p):
    with pytest.raises(InvalidParameterError) as err:
        Typical(typical_p=typical_p)
    assert err.value.field == "typical_p"
