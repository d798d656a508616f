"""poly1: CE + ε(1 − p_t), by hand; ε = 0 is cross-entropy."""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from scipy.special import log_softmax

from entropy_bench.methods.registry import LOSSES


def test_hand_computed():
    logits = np.array([[1.0, 0.0, -1.0, 2.0], [0.0, 0.0, 0.0, 0.0]])
    targets = np.array([3, 1])
    log_p = log_softmax(logits, axis=-1)[[0, 1], targets]
    expected = -log_p + 2.0 * (1 - np.exp(log_p))
    loss = LOSSES.build("poly1", epsilon=2.0, reduction="none")
    np.testing.assert_allclose(loss(torch.tensor(logits), torch.tensor(targets)).numpy(), expected, rtol=1e-13)
    assert np.isclose(expected[1], np.log(4) + 2.0 * 0.75)  # uniform row: p_t = 1/4


def test_epsilon_zero_is_cross_entropy():
    generator = torch.Generator().manual_seed(0)
    logits = 2 * torch.randn(8, 3, generator=generator, dtype=torch.float64)
    targets = torch.randint(0, 3, (8,), generator=generator)
    torch.testing.assert_close(LOSSES.build("poly1", epsilon=0.0)(logits, targets), F.cross_entropy(logits, targets),
                               rtol=1e-13, atol=1e-13)


def test_epsilon_minus_one_removes_the_first_taylor_term():
    # −log p − (1 − p) = Σ_{j≥2} (1 − p)^j / j
    logits = torch.tensor([[0.7, 0.1]], dtype=torch.float64)
    p = logits.softmax(-1)[0, 0].item()
    series = sum((1 - p) ** j / j for j in range(2, 200))
    np.testing.assert_allclose(LOSSES.build("poly1", epsilon=-1.0)(logits, torch.tensor([0])).item(), series, rtol=1e-12)
