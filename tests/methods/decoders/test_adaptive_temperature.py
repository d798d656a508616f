import math

import pytest
import torch

from entropy_bench.methods.decoders.adaptive_temperature import AdaptiveTemperature, anchors_from_reference
from entropy_bench.methods.registry import InvalidParameterError

NEG_INF = float("-inf")
DECODER = AdaptiveTemperature(
    entropy_low=math.log(2), entropy_mid=math.log(4), entropy_high=math.log(16), temperature=0.8, spread=0.5
)


def uniform_over(n: int, vocab: int = 32) -> list[float]:
    """Logits of the uniform distribution over the first n of ``vocab`` tokens: H = log n."""
    return [0.0] * n + [NEG_INF] * (vocab - n)


@pytest.mark.parametrize(
    ("n", "h_hat"),
    [
        (1, -1.0),  # H = 0, below entropy_low
        (2, -1.0),  # H = entropy_low
        (4, 0.0),  # H = entropy_mid
        (8, math.log(1.5) / math.log(2)),  # log(log 8 / log 4) / log(log 16 / log 4) = 0.585
        (16, 1.0),
        (32, 1.0),  # above entropy_high: clipped
    ],
)
def test_temperature_follows_the_log_entropy_map(n, h_hat):
    temperature = DECODER.temperatures(torch.tensor([uniform_over(n)]))
    assert temperature.item() == pytest.approx(0.8 * (1 + 0.5 * h_hat), abs=1e-5)


def test_warp_divides_the_logits_by_the_row_temperature():
    # p = (1/2, 1/4, 1/8, 1/8): H = 1.75 bits = 1.213 nats, below entropy_mid = log 4 = 1.386:
    # ĥ = log(1.213/1.386) / log(1.386/0.693) = −0.193, T = 0.8·(1 − 0.5·0.193) = 0.723.
    logits = torch.tensor([[0.5, 0.25, 0.125, 0.125]]).log()
    entropy = 1.75 * math.log(2)
    h_hat = math.log(entropy / math.log(4)) / math.log(2)
    torch.testing.assert_close(DECODER(logits)[0], logits / (0.8 * (1 + 0.5 * h_hat)))


def test_anchors_are_min_median_max_of_positive_entropies():
    entropies = torch.tensor([0.0, 0.1, 0.5, 2.0, float("nan"), 0.3])
    assert anchors_from_reference(entropies) == pytest.approx((0.1, 0.3, 2.0))


@pytest.mark.parametrize(
    ("field", "params"),
    [
        ("entropy_low", {"entropy_low": 0.0, "entropy_mid": 1.0, "entropy_high": 2.0}),
        ("entropy_mid", {"entropy_low": 1.0, "entropy_mid": 1.0, "entropy_high": 2.0}),
        ("entropy_high", {"entropy_low": 0.5, "entropy_mid": 1.0, "entropy_high": 1.0}),
        ("temperature", {"entropy_low": 0.5, "entropy_mid": 1.0, "entropy_high": 2.0, "temperature": 0.0}),
        ("spread", {"entropy_low": 0.5, "entropy_mid": 1.0, "entropy_high": 2.0, "spread": 1.0}),
    ],
)
def test_rejects_invalid_parameters(field, params):
    with pytest.raises(InvalidParameterError) as err:
        AdaptiveTemperature(**params)
    assert err.value.field == field
