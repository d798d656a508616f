"""focal: hand-computed values, γ = 0 is cross-entropy, the sigmoid form against torchvision's formula."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from scipy.special import log_softmax

from entropy_bench.methods.registry import LOSSES


def test_softmax_form_hand_computed():
    logits = np.array([[2.0, 0.0, -1.0], [0.3, 0.2, 0.1]])
    targets = np.array([0, 2])
    p_t = np.exp(log_softmax(logits, axis=-1)[[0, 1], targets])
    expected = -((1 - p_t) ** 2.0) * np.log(p_t)
    loss = LOSSES.build("focal", gamma=2.0, reduction="none")
    np.testing.assert_allclose(loss(torch.tensor(logits), torch.tensor(targets)).numpy(), expected, rtol=1e-12)


def test_gamma_zero_is_cross_entropy():
    generator = torch.Generator().manual_seed(0)
    logits = 3 * torch.randn(10, 4, generator=generator, dtype=torch.float64)
    targets = torch.randint(0, 4, (10,), generator=generator)
    torch.testing.assert_close(LOSSES.build("focal", gamma=0.0)(logits, targets), F.cross_entropy(logits, targets),
                               rtol=1e-12, atol=1e-12)


def test_focusing_down_weights_easy_examples_more():
    logits = torch.tensor([[4.0, 0.0, 0.0], [0.5, 0.0, 0.0]], dtype=torch.float64)
    targets = torch.tensor([0, 0])
    ce = F.cross_entropy(logits, targets, reduction="none")
    focal = LOSSES.build("focal", gamma=2.0, reduction="none")(logits, targets)
    ratio = focal / ce
    assert ratio[0] < 0.01 < ratio[1] < 1  # the confident row keeps < 1 % of its CE


def torchvision_sigmoid_focal_loss(inputs, targets, alpha=0.25, gamma=2.0):
    """torchvision.ops.sigmoid_focal_loss(reduction="none") written out (torchvision cannot sit beside this torch)."""
    p = torch.sigmoid(inputs)
    ce_loss = F.binary_cross_entropy_with_logits(inputs, targets, reduction="none")
    p_t = p * targets + (1 - p) * (1 - targets)
    loss = ce_loss * ((1 - p_t) ** gamma)
    if alpha >= 0:
        alpha_t = alpha * targets + (1 - alpha) * (1 - targets)
        loss = alpha_t * loss
    return loss


@pytest.mark.parametrize(("alpha", "gamma"), [(0.25, 2.0), (None, 2.0), (0.75, 0.5), (0.5, 0.0)])
def test_sigmoid_form_matches_torchvision(alpha, gamma):
    generator = torch.Generator().manual_seed(1)
    logits = 2 * torch.randn(6, 5, generator=generator)
    targets = torch.randint(0, 5, (6,), generator=generator)
    onehot = F.one_hot(targets, 5).float()
    expected = torchvision_sigmoid_focal_loss(logits, onehot, -1 if alpha is None else alpha, gamma).sum(dim=-1)
    loss = LOSSES.build("focal", gamma=gamma, alpha=alpha, activation="sigmoid", reduction="none")
    torch.testing.assert_close(loss(logits, targets), expected, rtol=1e-6, atol=1e-6)


def test_sigmoid_form_hand_computed():
    z = np.array([[1.0, -2.0]])  # one row, two classes, target 0
    p = 1 / (1 + np.exp(-z))
    # class 0 is a positive (t = 1), class 1 a negative (t = 0); α = 0.25, γ = 2
    expected = 0.25 * (1 - p[0, 0]) ** 2 * -np.log(p[0, 0]) + 0.75 * p[0, 1] ** 2 * -np.log(1 - p[0, 1])
    loss = LOSSES.build("focal", alpha=0.25, activation="sigmoid")
    np.testing.assert_allclose(loss(torch.tensor(z), torch.tensor([0])).item(), expected, rtol=1e-12)
