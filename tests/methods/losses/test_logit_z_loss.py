"""logit_z_loss: cross-entropy + λ·log²Z, by hand and against linear_cross_entropy's z_loss."""

from __future__ import annotations

import numpy as np
import torch
from scipy.special import logsumexp

from entropy_bench.methods.registry import LOSSES


def test_hand_computed():
    logits = np.array([[2.0, -1.0, 0.5], [4.0, 4.0, 4.0]])
    targets = np.array([0, 2])
    log_z = logsumexp(logits, axis=-1)
    expected = log_z - logits[[0, 1], targets] + 0.01 * log_z**2
    loss = LOSSES.build("logit_z_loss", z_loss=0.01, reduction="none")
    np.testing.assert_allclose(loss(torch.tensor(logits), torch.tensor(targets)).numpy(), expected, rtol=1e-13)


def test_z_loss_zero_is_cross_entropy():
    logits = torch.randn(6, 5, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    targets = torch.tensor([0, 1, 2, 3, 4, 0])
    torch.testing.assert_close(LOSSES.build("logit_z_loss", z_loss=0.0)(logits, targets),
                               LOSSES.build("cross_entropy")(logits, targets), rtol=1e-14, atol=1e-14)


def test_matches_linear_cross_entropy_z_loss():
    generator = torch.Generator().manual_seed(1)
    hidden = torch.randn(8, 4, generator=generator, dtype=torch.float64)
    weight = torch.randn(9, 4, generator=generator, dtype=torch.float64)
    targets = torch.randint(0, 9, (8,), generator=generator)
    targets[1] = -100
    for reduction in ("mean", "sum", "none"):
        linear = LOSSES.build("linear_cross_entropy", z_loss=1e-3, reduction=reduction)(hidden, weight, targets)
        ours = LOSSES.build("logit_z_loss", z_loss=1e-3, reduction=reduction)(hidden @ weight.T, targets)
        torch.testing.assert_close(ours, linear, rtol=1e-12, atol=1e-12)


def test_the_term_pulls_log_z_to_zero():
    logits = torch.tensor([[3.0, 1.0, 0.0]], dtype=torch.float64, requires_grad=True)
    targets = torch.tensor([0])
    z_term = LOSSES.build("logit_z_loss", z_loss=1.0)(logits, targets) - LOSSES.build("cross_entropy")(logits, targets)
    (grad,) = torch.autograd.grad(z_term, logits)
    # ∂ λ lse² / ∂z = 2 λ lse · softmax(z): every logit is pushed down while lse > 0
    expected = 2 * logits.logsumexp(-1, keepdim=True) * logits.softmax(-1)
    torch.testing.assert_close(grad, expected.detach())
