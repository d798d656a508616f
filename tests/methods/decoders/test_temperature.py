import math

import pytest
import torch

from entropy_bench.methods.decoders.temperature import Temperature
from entropy_bench.methods.registry import InvalidParameterError


def test_probabilities_are_p_to_the_power_one_over_t_renormalised():
    # p = (1/2, 1/4, 1/4) at T = 2: p^(1/2) = (√½, ½, ½), divided by their sum √½ + 1.
    probs = Temperature(temperature=2.0)(torch.tensor([[0.5, 0.25, 0.25]]).log())[0].softmax(-1)
    total = math.sqrt(0.5) + 1
    torch.testing.assert_close(probs, torch.tensor([[math.sqrt(0.5) / total, 0.5 / total, 0.5 / total]]))


def test_keeps_every_token_and_minus_inf_stays():
    logits = torch.tensor([[1.0, float("-inf"), -2.0]])
    assert Temperature(temperature=0.3)(logits)[0].isfinite().tolist() == [[True, False, True]]


@pytest.mark.parametrize("temperature", [0.0, -1.0])
def test_rejects_non_positive_temperature(temperature):
    with pytest.raises(InvalidParameterError) as err:
        Temperature(temperature=temperature)
    assert err.value.field == "temperature"
