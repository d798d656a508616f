import math

import pytest
import torch

from entropy_bench.kernels.softmax_stats import softmax_stats
from entropy_bench.methods.decoders.entropy_band import EntropyBand, band_from_reference
from entropy_bench.methods.registry import InvalidParameterError

NEG_INF = float("-inf")


def entropy(logits: torch.Tensor) -> torch.Tensor:
    return softmax_stats(logits).entropy


def test_steps_inside_the_band_pass_unchanged():
    logits = torch.tensor([[0.5, 0.25, 0.125, 0.125]]).log()  # H = 1.213 nats
    assert torch.equal(EntropyBand(lower=1.0, upper=1.3)(logits)[0], logits)


@pytest.mark.parametrize(("lower", "upper", "target"), [(1.3, 1.35, 1.3), (0.1, 0.5, 0.5)])
def test_steps_outside_are_tempered_onto_the_violated_bound(lower, upper, target):
    # H = 1.213 nats lies below [1.3, 1.35] (T > 1 flattens it up to 1.3, short of the uniform
    # log 4 = 1.386) and above [0.1, 0.5] (T < 1 sharpens it down to 0.5).
    logits = torch.tensor([[0.5, 0.25, 0.125, 0.125, 0.0]]).log()
    warped, _ = EntropyBand(lower=lower, upper=upper)(logits)
    assert warped.isfinite().tolist() == logits.isfinite().tolist()
    assert entropy(warped).item() == pytest.approx(target, abs=1e-4)
    temperature = (logits[0, 0] - logits[0, 1]) / (warped[0, 0] - warped[0, 1])
    assert (temperature > 1) == (target == lower)


def test_an_unreachable_lower_bound_gets_as_close_as_temperature_can():
    logits = torch.tensor([[0.5, 0.25, 0.125, 0.125, 0.0]]).log()  # at most log 4 on four tokens
    warped, _ = EntropyBand(lower=2.0, upper=3.0)(logits)
    assert entropy(warped).item() == pytest.approx(math.log(4), abs=1e-4)


def test_rows_are_tempered_independently():
    low = [3.0, 0.0, 0.0, 0.0]  # H ≈ 0.42
    mid = [0.0, 0.0, NEG_INF, NEG_INF]  # H = log 2 = 0.693
    high = [0.0, 0.0, 0.0, 0.0]  # H = log 4 = 1.386
    warped, _ = EntropyBand(lower=0.6, upper=0.8)(torch.tensor([low, mid, high]))
    h = entropy(warped)
    assert h[0].item() == pytest.approx(0.6, abs=1e-4)
    assert h[1].item() == pytest.approx(math.log(2), abs=1e-6)
    assert h[2].item() == pytest.approx(math.log(4), abs=1e-6)  # uniform: no temperature moves it


def test_a_one_hot_row_cannot_be_lifted_and_stays_finite():
    logits = torch.tensor([[NEG_INF, 2.0, NEG_INF]])
    warped, _ = EntropyBand(lower=1.0, upper=2.0)(logits)
    assert warped.isfinite().tolist() == [[False, True, False]] and not warped.isnan().any()


def test_band_from_reference_is_mean_plus_minus_num_std_std():
    entropies = torch.tensor([[1.0, 2.0, 3.0], [float("nan"), 2.0, float("nan")]])  # mean 2, std √(2/3)
    std = math.sqrt(2 / 3)
    assert band_from_reference(entropies) == pytest.approx((2 - std, 2 + std))
    assert band_from_reference(entropies, num_std=3.0) == pytest.approx((0.0, 2 + 3 * std))


def test_rejects_an_inverted_or_negative_band():
    with pytest.raises(InvalidParameterError) as err:
        EntropyBand(lower=2.0, upper=1.0)
    assert err.value.field == "upper"
    with pytest.raises(InvalidParameterError) as err:
        EntropyBand(lower=-0.1, upper=1.0)
    assert err.value.field == "lower"
