"""confidence_penalty: CE − β·H(p), by hand; β = 0 is cross-entropy; it prefers less confident fits."""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from scipy.optimize import brentq
from scipy.special import expit, log_softmax

from entropy_bench.methods.registry import LOSSES


def test_hand_computed():
    logits = np.array([[2.0, 1.0, 0.0], [0.0, 0.0, 5.0]])
    targets = np.array([0, 2])
    log_p = log_softmax(logits, axis=-1)
    entropy = -(np.exp(log_p) * log_p).sum(-1)
    expected = -log_p[[0, 1], targets] - 0.5 * entropy
    loss = LOSSES.build("confidence_penalty", entropy_coef=0.5, reduction="none")
    np.testing.assert_allclose(loss(torch.tensor(logits), torch.tensor(targets)).numpy(), expected, rtol=1e-13)


def test_beta_zero_is_cross_entropy():
    generator = torch.Generator().manual_seed(0)
    logits = torch.randn(5, 4, generator=generator, dtype=torch.float64)
    targets = torch.randint(0, 4, (5,), generator=generator)
    torch.testing.assert_close(LOSSES.build("confidence_penalty", entropy_coef=0.0)(logits, targets),
                               F.cross_entropy(logits, targets), rtol=1e-14, atol=1e-14)


def test_minimiser_is_not_one_hot():
    # a 2-class row with target 0 and margin m = z_0 − z_1, p = σ(m): dCE/dm = −(1 − p) and
    # dH/dm = −m p (1 − p), so CE − βH is stationary where β m σ(m) = 1; CE alone decreases forever
    beta = 0.5
    optimum = brentq(lambda m: beta * m * expit(m) - 1, 0.0, 10.0)
    margins = torch.linspace(0.0, 10.0, 100001, dtype=torch.float64)
    logits = torch.stack([margins, torch.zeros_like(margins)], dim=-1)
    targets = torch.zeros_like(margins, dtype=torch.long)
    values = LOSSES.build("confidence_penalty", entropy_coef=beta, reduction="none")(logits, targets)
    assert abs(margins[values.argmin()].item() - optimum) < 1e-3
