import math

import pytest
import torch

from entropy_bench.methods.decoders.eta import Eta
from entropy_bench.methods.registry import InvalidParameterError

PROBS = [0.3, 0.25, 0.2, 0.15, 0.1]
ENTROPY = -sum(p * math.log(p) for p in PROBS)  # 1.5445 nats, exp(−H) = 0.2134


@pytest.mark.parametrize("epsilon", [0.05, 0.3, 0.8])
def test_threshold_is_min_of_epsilon_and_sqrt_epsilon_times_exp_minus_entropy(epsilon):
    # ε = 0.05: η = ε = 0.05 keeps all five; ε = 0.3: η = √0.3·0.2134 = 0.117 (not 0.3) keeps four;
    # ε = 0.8: η = √0.8·0.2134 = 0.191 keeps three.
    eta = min(epsilon, math.sqrt(epsilon) * math.exp(-ENTROPY))
    expected = [p >= eta for p in PROBS]
    assert expected.count(True) == {0.05: 5, 0.3: 4, 0.8: 3}[epsilon]
    logits = torch.tensor([PROBS]).log()
    assert Eta(epsilon=epsilon)(logits)[0].isfinite().tolist() == [expected]


def test_peaked_rows_keep_the_argmax():
    logits = torch.tensor([[10.0, 0.0, 0.0]])  # p ≈ (1, 4.5e-5, 4.5e-5)
    assert Eta(epsilon=0.999)(logits)[0].isfinite().tolist() == [[True, False, False]]


@pytest.mark.parametrize("epsilon", [0.0, 1.0])
def test_rejects_epsilon_outside_open_0_1(epsilon):
    with pytest.raises(InvalidParameterError) as err:
        Eta(epsilon=epsilon)
    assert err.value.field == "epsilon"
