"""generalized_ce, mae and nce_rce: values by hand, the CE ↔ GCE ↔ MAE relations, boundedness."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from scipy.special import log_softmax, softmax

from entropy_bench.methods.registry import LOSSES

LOGITS = np.array([[1.0, 2.0, -0.5], [0.0, 0.0, 0.0], [5.0, -5.0, 0.0]])
TARGETS = np.array([0, 1, 1])


def run(name, **params):
    return LOSSES.build(name, reduction="none", **params)(torch.tensor(LOGITS), torch.tensor(TARGETS)).numpy()


def test_generalized_ce_hand_computed():
    p_t = softmax(LOGITS, axis=-1)[[0, 1, 2], TARGETS]
    np.testing.assert_allclose(run("generalized_ce", q=0.7), (1 - p_t**0.7) / 0.7, rtol=1e-12)


def test_generalized_ce_tends_to_cross_entropy_as_q_goes_to_zero():
    ce = -log_softmax(LOGITS, axis=-1)[[0, 1, 2], TARGETS]
    np.testing.assert_allclose(run("generalized_ce", q=1e-6), ce, rtol=1e-4)
    # the gap is first order in q: (1 − p^q)/q = −log p − q log² p / 2 + O(q²)
    np.testing.assert_allclose(run("generalized_ce", q=1e-6) - ce, -1e-6 * ce**2 / 2, rtol=1e-3)


def test_generalized_ce_at_q_one_is_half_of_mae():
    p = softmax(LOGITS, axis=-1)
    mae = np.abs(np.eye(3)[TARGETS] - p).sum(-1)  # Σ_k |onehot − p|, from its definition
    np.testing.assert_allclose(run("mae"), mae, rtol=1e-12)
    np.testing.assert_allclose(run("generalized_ce", q=1.0), mae / 2, rtol=1e-12)


def test_mae_is_bounded_by_two():
    logits = torch.tensor([[-100.0, 100.0, 0.0]], dtype=torch.float64)
    assert LOSSES.build("mae")(logits, torch.tensor([0])).item() == pytest.approx(2.0, abs=1e-12)


def reference_nce_rce(logits, targets, alpha, beta):
    """The APL authors' NormalizedCrossEntropy + ReverseCrossEntropy, written out (numpy)."""
    log_p = log_softmax(logits, axis=-1)
    onehot = np.eye(logits.shape[-1])[targets]
    nce = (-(onehot * log_p).sum(-1)) / (-log_p.sum(-1))
    pred = np.clip(np.exp(log_p), 1e-7, 1.0)
    rce = -(pred * np.log(np.clip(onehot, 1e-4, 1.0))).sum(-1)
    return alpha * nce + beta * rce


def test_nce_rce_matches_the_reference_code():
    expected = reference_nce_rce(LOGITS, TARGETS, alpha=1.0, beta=0.5)
    # the reference also clamps p ≥ 1e-7 inside RCE; no p here is that small, so the two agree
    assert softmax(LOGITS, axis=-1).min() > 1e-7
    np.testing.assert_allclose(run("nce_rce", alpha=1.0, beta=0.5), expected, rtol=1e-12)


def test_nce_and_rce_alone():
    log_p = log_softmax(LOGITS, axis=-1)
    target_log_p = log_p[[0, 1, 2], TARGETS]
    np.testing.assert_allclose(run("nce_rce", alpha=1.0, beta=0.0), target_log_p / log_p.sum(-1), rtol=1e-12)
    np.testing.assert_allclose(run("nce_rce", alpha=0.0, beta=1.0, label_clip=math.exp(-4)),
                               4 * (1 - np.exp(target_log_p)), rtol=1e-12)  # A = −4 (the SCE paper's)
    assert run("nce_rce", alpha=1.0, beta=0.0)[1] == pytest.approx(1 / 3)  # uniform: log(1/3) / (3 log(1/3))


@pytest.mark.parametrize("scale", [1.0, 30.0, 1e3])
def test_nce_rce_is_bounded(scale):
    alpha, beta, label_clip = 2.0, 0.5, 1e-4
    generator = torch.Generator().manual_seed(0)
    logits = scale * torch.randn(200, 6, generator=generator, dtype=torch.float64)
    targets = torch.randint(0, 6, (200,), generator=generator)
    values = LOSSES.build("nce_rce", alpha=alpha, beta=beta, label_clip=label_clip, reduction="none")(logits, targets)
    assert (values >= 0).all() and (values <= alpha - beta * math.log(label_clip) + 1e-12).all()


def test_nce_rce_approaches_its_bound_where_cross_entropy_diverges():
    alpha, beta, label_clip = 2.0, 0.5, 1e-4
    logits = torch.tensor([[-1e3, 1e3, 1e3, 1e3]], dtype=torch.float64)  # no mass on the target
    targets = torch.tensor([0])
    value = LOSSES.build("nce_rce", alpha=alpha, beta=beta, label_clip=label_clip)(logits, targets)
    upper = alpha - beta * math.log(label_clip)
    assert 0.99 * upper < value.item() <= upper
    assert F.cross_entropy(logits, targets).item() > 1e3
