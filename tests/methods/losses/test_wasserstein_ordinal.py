"""wasserstein_ordinal: W1 between the predicted distribution over ordered bins and the target bin."""

from __future__ import annotations

import numpy as np
import torch
from scipy.special import softmax

from entropy_bench.methods.registry import LOSSES


def test_equals_the_l1_distance_between_cdfs():
    logits = np.array([[0.5, 1.0, -1.0, 2.0], [3.0, 0.0, 0.0, -2.0]])
    targets = np.array([1, 3])
    cdf = np.cumsum(softmax(logits, axis=-1), axis=-1)
    target_cdf = (np.arange(4)[None, :] >= targets[:, None]).astype(float)
    expected = np.abs(cdf - target_cdf)[:, :-1].sum(-1)
    loss = LOSSES.build("wasserstein_ordinal", reduction="none")
    np.testing.assert_allclose(loss(torch.tensor(logits), torch.tensor(targets)).numpy(), expected, rtol=1e-12)


def test_mass_on_adjacent_bins_costs_less_than_on_far_bins():
    # all mass on one wrong bin: W1 is its distance to the target; cross-entropy cannot tell them apart
    big = 50.0
    logits = torch.full((3, 5), -big, dtype=torch.float64)
    logits[0, 2] = logits[1, 3] = logits[2, 4] = big  # predicted bins 2, 3, 4 for target 2
    targets = torch.tensor([2, 2, 2])
    values = LOSSES.build("wasserstein_ordinal", reduction="none")(logits, targets)
    torch.testing.assert_close(values, torch.tensor([0.0, 1.0, 2.0], dtype=torch.float64), atol=1e-12, rtol=0)
    ce = LOSSES.build("cross_entropy", reduction="none")(logits, targets)
    assert ce[1] == ce[2]


def test_split_mass():
    # half on bin 0, half on bin 3, target 1: W1 = ½·1 + ½·2
    logits = torch.tensor([[0.0, float("-inf"), float("-inf"), 0.0]])
    assert LOSSES.build("wasserstein_ordinal")(logits, torch.tensor([1])).item() == 1.5
