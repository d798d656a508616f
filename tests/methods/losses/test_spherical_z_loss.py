"""spherical_z_loss: the softplus of the target z-score, by hand; shift and scale invariance."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from entropy_bench.methods.registry import LOSSES


def test_hand_computed():
    logits = np.array([[3.0, 1.0, 2.0], [0.0, 4.0, -2.0]])
    targets = np.array([0, 2])
    z_score = (logits[[0, 1], targets] - logits.mean(-1)) / logits.std(-1)  # population std
    a, b = 2.0, 1.0
    expected = np.log1p(np.exp(a * (b - z_score))) / a
    assert np.isclose(z_score[0], np.sqrt(1.5))  # (3 − 2) / sqrt(2/3)
    loss = LOSSES.build("spherical_z_loss", a=a, b=b, reduction="none")
    np.testing.assert_allclose(loss(torch.tensor(logits), torch.tensor(targets)).numpy(), expected, rtol=1e-13)


@pytest.mark.parametrize(("scale", "shift"), [(1.0, 7.5), (0.01, 0.0), (250.0, -3.0), (3.0, 1e3)])
def test_invariant_to_shift_and_positive_scale(scale, shift):
    generator = torch.Generator().manual_seed(0)
    logits = torch.randn(6, 5, generator=generator, dtype=torch.float64)
    targets = torch.randint(0, 5, (6,), generator=generator)
    loss = LOSSES.build("spherical_z_loss", a=1.0, b=2.0, reduction="none")
    torch.testing.assert_close(loss(scale * logits + shift, targets), loss(logits, targets), rtol=1e-10, atol=1e-12)


def test_negative_scale_reverses_the_ranking():
    logits = torch.tensor([[2.0, 0.0, -1.0]], dtype=torch.float64)
    loss = LOSSES.build("spherical_z_loss", a=1.0, b=1.0)
    assert loss(-logits, torch.tensor([0])) > loss(logits, torch.tensor([0]))


def test_constant_row_has_no_z_score():
    loss = LOSSES.build("spherical_z_loss", a=1.0, b=1.0, reduction="none")
    values = loss(torch.tensor([[1.0, 1.0, 1.0], [1.0, 2.0, 3.0]]), torch.tensor([0, 2]))
    assert values[0].isnan() and values[1].isfinite()
