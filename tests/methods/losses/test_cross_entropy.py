"""cross_entropy (from logits) and linear_cross_entropy (from hidden states and the classifier weight):
hand-computed values, F.cross_entropy parity, and agreement with each other."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from scipy.special import log_softmax

from entropy_bench.methods.registry import LOSSES, InvalidParameterError


def test_linear_cross_entropy_registered_with_paper_and_id():
    entry = LOSSES.get("linear_cross_entropy")
    assert "Cut Your Losses" in entry.paper and entry.url == "https://arxiv.org/abs/2411.09009"
    assert set(entry.params) == {"label_smoothing", "z_loss", "ignore_index", "reduction"}
    loss = LOSSES.build("linear_cross_entropy", label_smoothing=0.1)
    assert loss.id == "linear_cross_entropy(ignore_index=-100,label_smoothing=0.1,reduction=mean,z_loss=0.0)"


@pytest.mark.parametrize(
    "params, field",
    [
        ({"label_smoothing": 1.5}, "label_smoothing"),
        ({"z_loss": -0.1}, "z_loss"),
        ({"reduction": "avg"}, "reduction"),
        ({"smoothing": 0.1}, "smoothing"),
    ],
)
def test_invalid_parameters(params, field):
    with pytest.raises(InvalidParameterError) as err:
        LOSSES.build("linear_cross_entropy", **params)
    assert err.value.field == field


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_matches_materialised_cross_entropy(reduction):
    generator = torch.Generator().manual_seed(0)
    hidden = torch.randn(11, 16, generator=generator, requires_grad=True)
    weight = torch.randn(50, 16, generator=generator, requires_grad=True)
    bias = torch.randn(50, generator=generator)
    targets = torch.randint(0, 50, (11,), generator=generator)
    targets[::3] = 7  # ignored below
    loss_fn = LOSSES.build("linear_cross_entropy", label_smoothing=0.1, ignore_index=7, reduction=reduction)
    loss = loss_fn(hidden, weight, targets, bias)
    expected = F.cross_entropy(
        torch.addmm(bias, hidden, weight.T), targets, ignore_index=7, label_smoothing=0.1, reduction=reduction
    )
    torch.testing.assert_close(loss, expected)
    (grad,) = torch.autograd.grad(loss.sum(), hidden)
    (expected_grad,) = torch.autograd.grad(expected.sum(), hidden)
    torch.testing.assert_close(grad, expected_grad)


def test_cross_entropy_hand_computed():
    logits = np.array([[1.0, 2.0, 0.5], [0.0, -1.0, 3.0]])
    targets = np.array([1, 0])
    log_p = log_softmax(logits, axis=-1)
    eps = 0.2
    expected = (1 - eps) * -log_p[[0, 1], targets] + eps * -log_p.mean(axis=-1)
    loss = LOSSES.build("cross_entropy", label_smoothing=eps, reduction="none")
    np.testing.assert_allclose(loss(torch.tensor(logits), torch.tensor(targets)).numpy(), expected, rtol=1e-13)
    plain = LOSSES.build("cross_entropy", reduction="none")(torch.tensor(logits), torch.tensor(targets))
    np.testing.assert_allclose(plain.numpy(), -log_p[[0, 1], targets], rtol=1e-13)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("label_smoothing", [0.0, 0.1, 1.0])
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_cross_entropy_matches_torch(dtype, label_smoothing, reduction):
    generator = torch.Generator().manual_seed(0)
    logits = 3 * torch.randn(9, 5, generator=generator, dtype=dtype)
    targets = torch.randint(0, 5, (9,), generator=generator)
    targets[::4] = 3  # ignored below
    ours = LOSSES.build("cross_entropy", label_smoothing=label_smoothing, ignore_index=3, reduction=reduction)
    expected = F.cross_entropy(logits, targets, label_smoothing=label_smoothing, ignore_index=3, reduction=reduction)
    torch.testing.assert_close(ours(logits, targets), expected, rtol=1e-6, atol=1e-6)


def test_cross_entropy_without_smoothing_allows_masked_classes():
    logits = torch.tensor([[0.0, float("-inf"), 1.0]])
    targets = torch.tensor([2])
    torch.testing.assert_close(LOSSES.build("cross_entropy")(logits, targets), F.cross_entropy(logits, targets))


def test_cross_entropy_equals_linear_cross_entropy_on_materialised_logits():
    generator = torch.Generator().manual_seed(1)
    hidden = torch.randn(7, 6, generator=generator, dtype=torch.float64)
    weight = torch.randn(11, 6, generator=generator, dtype=torch.float64)
    targets = torch.randint(0, 11, (7,), generator=generator)
    targets[2] = -100
    linear = LOSSES.build("linear_cross_entropy", label_smoothing=0.3)(hidden, weight, targets)
    from_logits = LOSSES.build("cross_entropy", label_smoothing=0.3)(hidden @ weight.T, targets)
    torch.testing.assert_close(from_logits, linear, rtol=1e-12, atol=1e-12)


def test_linear_cross_entropy_gradcheck_float64():
    generator = torch.Generator().manual_seed(2)
    hidden = torch.randn(5, 3, generator=generator, dtype=torch.float64, requires_grad=True)
    weight = torch.randn(7, 3, generator=generator, dtype=torch.float64, requires_grad=True)
    targets = torch.tensor([0, 3, 6, -100, 2])
    loss = LOSSES.build("linear_cross_entropy", label_smoothing=0.1, z_loss=0.01)
    assert torch.autograd.gradcheck(lambda h, w: loss(h, w, targets), (hidden, weight))
