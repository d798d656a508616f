import pytest
import torch

from entropy_bench.methods.decoders.min_p import MinP
from entropy_bench.methods.registry import InvalidParameterError


@pytest.mark.parametrize(
    ("min_p", "kept"),
    [
        (0.2, [True, True, True, False]),  # threshold 0.2 · 0.5 = 0.1
        (0.5, [True, True, False, False]),  # threshold 0.25
        (0.9, [True, False, False, False]),  # threshold 0.45
        (0.0, [True, True, True, True]),
    ],
)
def test_keeps_tokens_at_least_min_p_times_the_top_probability(min_p, kept):
    logits = torch.tensor([[0.5, 0.3, 0.15, 0.05]]).log()
    assert MinP(min_p=min_p)(logits)[0].isfinite().tolist() == [kept]


def test_min_p_one_keeps_exactly_the_tokens_tied_with_the_top():
    logits = torch.tensor([[2.0, 2.0, 1.0]])
    assert MinP(min_p=1.0)(logits)[0].isfinite().tolist() == [[True, True, False]]


@pytest.mark.parametrize("min_p", [-0.1, 1.1])
def test_rejects_min_p_outside_0_1(min_p):
    with pytest.raises(InvalidParameterError) as err:
        MinP(min_p=min_p)
    assert err.value.field == "min_p"
