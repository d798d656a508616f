import pytest
import torch

from entropy_bench.methods.decoders.top_p import TopP
from entropy_bench.methods.registry import InvalidParameterError

PROBS = [0.5, 0.3, 0.15, 0.05]  # cumulative from the top: 0.5, 0.8, 0.95, 1.0


@pytest.mark.parametrize(
    ("top_p", "kept"),
    [
        (0.4, [True, False, False, False]),  # 0.5 alone reaches 0.4
        (0.6, [True, True, False, False]),  # 0.5 < 0.6 ≤ 0.8
        (0.9, [True, True, True, False]),  # 0.8 < 0.9 ≤ 0.95
        (0.97, [True, True, True, True]),
    ],
)
def test_keeps_the_smallest_top_set_reaching_top_p(top_p, kept):
    logits = torch.tensor([PROBS]).log()
    assert TopP(top_p=top_p)(logits)[0].isfinite().tolist() == [kept]


def test_top_p_one_keeps_negligible_tail_tokens():
    # exp(−30) ≈ 1e-13: the mass above them rounds to 1 in float32, yet top_p = 1 must keep them.
    logits = torch.tensor([[0.0, -30.0, -30.0, float("-inf")]])
    assert torch.equal(TopP(top_p=1.0)(logits)[0], logits)


def test_tiny_top_p_keeps_the_argmax():
    logits = torch.tensor([[0.0, 3.0, 1.0]])
    assert TopP(top_p=1e-9)(logits)[0].isfinite().tolist() == [[False, True, False]]


@pytest.mark.parametrize("top_p", [0.0, 1.5, -0.1])
def test_rejects_top_p_outside_0_1(top_p):
    with pytest.raises(InvalidParameterError) as err:
        TopP(top_p=top_p)
    assert err.value.field == "top_p"
