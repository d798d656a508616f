import pytest
import torch

from entropy_bench.methods.decoders.epsilon import Epsilon
from entropy_bench.methods.registry import InvalidParameterError


@pytest.mark.parametrize(
    ("epsilon", "kept"),
    [
        (0.005, [True, True, True, True]),
        (0.05, [True, True, True, False]),
        (0.2, [True, True, False, False]),
        (0.5, [True, False, False, False]),
        (0.99, [True, False, False, False]),  # nothing reaches 0.99: the argmax stays
    ],
)
def test_keeps_tokens_with_probability_at_least_epsilon(epsilon, kept):
    logits = torch.tensor([[0.6, 0.3, 0.09, 0.01]]).log()
    assert Epsilon(epsilon=epsilon)(logits)[0].isfinite().tolist() == [kept]


@pytest.mark.parametrize("epsilon", [0.0, 1.0])
def test_rejects_epsilon_outside_open_0_1(epsilon):
    with pytest.raises(InvalidParameterError) as err:
        Epsilon(epsilon=epsilon)
    assert err.value.field == "epsilon"
