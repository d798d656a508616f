"""The registered cross_entropy loss: parameters, validation, and agreement with F.cross_entropy."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from entropy_bench.methods.registry import LOSSES, InvalidParameterError


def test_registered_with_paper_and_id():
    entry = LOSSES.get("cross_entropy")
    assert "Cut Your Losses" in entry.paper and entry.url == "https://arxiv.org/abs/2411.09009"
    assert set(entry.params) == {"label_smoothing", "z_loss", "ignore_index", "reduction"}
    loss = LOSSES.build("cross_entropy", label_smoothing=0.1)
    assert loss.id == "cross_entropy(ignore_index=-100,label_smoothing=0.1,reduction=mean,z_loss=0.0)"


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
        LOSSES.build("cross_entropy", **params)
    assert err.value.field == field


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_matches_materialised_cross_entropy(reduction):
    generator = torch.Generator().manual_seed(0)
    hidden = torch.randn(11, 16, generator=generator, requires_grad=True)
    weight = torch.randn(50, 16, generator=generator, requires_grad=True)
    bias = torch.randn(50, generator=generator)
    targets = torch.randint(0, 50, (11,), generator=generator)
    targets[::3] = 7  # ignored below
    loss_fn = LOSSES.build("cross_entropy", label_smoothing=0.1, ignore_index=7, reduction=reduction)
    loss = loss_fn(hidden, weight, targets, bias)
    expected = F.cross_entropy(
        torch.addmm(bias, hidden, weight.T), targets, ignore_index=7, label_smoothing=0.1, reduction=reduction
    )
    torch.testing.assert_close(loss, expected)
    (grad,) = torch.autograd.grad(loss.sum(), hidden)
    (expected_grad,) = torch.autograd.grad(expected.sum(), hidden)
    torch.testing.assert_close(grad, expected_grad)
