"""logit_clip: cross-entropy of logits clamped to norm τ; plain CE inside the ball; bounded outside."""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F
from scipy.special import log_softmax

from entropy_bench.methods.registry import LOSSES


def test_hand_computed():
    logits = np.array([[3.0, 4.0, 0.0], [0.3, 0.0, -0.4]])  # norms 5 and 0.5
    targets = np.array([0, 1])
    clipped = logits.copy()
    clipped[0] *= 2.0 / 5.0
    expected = -log_softmax(clipped, axis=-1)[[0, 1], targets]
    loss = LOSSES.build("logit_clip", tau=2.0, reduction="none")
    np.testing.assert_allclose(loss(torch.tensor(logits), torch.tensor(targets)).numpy(), expected, rtol=1e-13)


def test_inside_the_ball_it_is_cross_entropy():
    logits = torch.tensor([[0.1, -0.2, 0.05], [0.0, 0.0, 0.0]], dtype=torch.float64)
    targets = torch.tensor([2, 0])
    torch.testing.assert_close(LOSSES.build("logit_clip", tau=1.0)(logits, targets), F.cross_entropy(logits, targets))


def test_bounded_however_large_the_logits():
    tau, classes = 1.5, 4
    bound = math.log(1 + (classes - 1) * math.exp(math.sqrt(2) * tau))
    logits = torch.tensor([[-1e6, 1e6, 0.0, 0.0], [-50.0, 50.0, 50.0, 50.0]], dtype=torch.float64)
    values = LOSSES.build("logit_clip", tau=tau, reduction="none")(logits, torch.tensor([0, 0]))
    assert (values <= bound).all()
    # row 0 is clipped to τ (−1, 1, 0, 0)/√2: ℓ = log(1 + e^{√2 τ} + 2 e^{τ/√2})
    side = tau / math.sqrt(2)
    np.testing.assert_allclose(values[0].item(), math.log(1 + math.exp(2 * side) + 2 * math.exp(side)), rtol=1e-12)
