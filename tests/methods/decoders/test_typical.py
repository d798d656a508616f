import math

import pytest
import torch

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


@pytest.mark.parametrize("typical_p", [0.0, 1.01])
def test_rejects_typical_p_outside_0_1(typical_p):
    with pytest.raises(InvalidParameterError) as err:
        Typical(typical_p=typical_p)
    assert err.value.field == "typical_p"
