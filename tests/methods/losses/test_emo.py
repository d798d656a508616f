"""emo: the transport cost by hand, its value (= CE) and gradient (½(∇CE + CE/DEMD ∇DEMD)), gradcheck."""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from scipy.special import softmax

from entropy_bench.methods.losses.emo import demd
from entropy_bench.methods.registry import LOSSES

# three tokens: 0 and 1 point the same way (cost 0 between them), 2 is orthogonal to both (cost 1)
EMBEDDINGS = np.array([[1.0, 0.0], [2.0, 0.0], [0.0, 3.0]])


def test_transport_cost_by_hand():
    logits = np.array([[1.0, 0.0, -1.0], [0.0, 2.0, 0.5]])
    targets = np.array([0, 2])
    unit = EMBEDDINGS / np.linalg.norm(EMBEDDINGS, axis=-1, keepdims=True)
    cost = 1 - unit @ unit.T  # C(v, w) = 1 − cos(e_v, e_w)
    q = softmax(logits, axis=-1)
    expected = (q * cost[:, targets].T).sum(-1)  # Σ_v q_v C(v, y)
    np.testing.assert_allclose(expected, [q[0, 2], q[1, 0] + q[1, 1]])
    ours = demd(torch.tensor(logits), torch.tensor(targets), torch.tensor(EMBEDDINGS))
    np.testing.assert_allclose(ours.numpy(), expected, rtol=1e-12)


def test_mass_on_a_near_token_costs_less_than_on_a_far_one():
    logits = torch.tensor([[0.0, 6.0, 0.0], [0.0, 0.0, 6.0]], dtype=torch.float64)  # mass on token 1, on token 2
    targets = torch.tensor([0, 0])
    cost = demd(logits, targets, torch.tensor(EMBEDDINGS))
    assert cost[0] < 0.01 < 0.99 < cost[1]
    ce = F.cross_entropy(logits, targets, reduction="none")
    torch.testing.assert_close(ce[0], ce[1])  # cross-entropy sees no difference


def test_value_is_cross_entropy_and_gradient_the_papers_mix():
    generator = torch.Generator().manual_seed(0)
    logits = torch.randn(5, 3, generator=generator, dtype=torch.float64, requires_grad=True)
    targets = torch.tensor([0, 1, 2, 2, 1])
    embeddings = torch.tensor(EMBEDDINGS) + 0.3 * torch.randn(3, 2, generator=generator, dtype=torch.float64)
    loss = LOSSES.build("emo", reduction="sum")(logits, targets, embeddings)
    ce = F.cross_entropy(logits, targets, reduction="none")
    transport = demd(logits, targets, embeddings)
    torch.testing.assert_close(loss, ce.sum(), rtol=1e-9, atol=0)
    (grad,) = torch.autograd.grad(loss, logits)
    grad_ce = torch.autograd.grad(ce.sum(), logits, retain_graph=True)[0]
    weight = (ce / transport).detach()
    grad_transport = torch.autograd.grad((weight * transport).sum(), logits)[0]
    torch.testing.assert_close(grad, (grad_ce + grad_transport) / 2)


def test_gradcheck_of_the_transport_cost():
    generator = torch.Generator().manual_seed(1)
    logits = torch.randn(4, 3, generator=generator, dtype=torch.float64, requires_grad=True)
    embeddings = torch.randn(3, 5, generator=generator, dtype=torch.float64, requires_grad=True)
    targets = torch.tensor([0, 2, 1, 1])
    assert torch.autograd.gradcheck(lambda z, e: demd(z, targets, e), (logits, embeddings))


def test_zero_embedding_costs_one_to_everything():
    embeddings = torch.tensor([[1.0, 0.0], [0.0, 0.0], [0.0, 1.0]])
    logits = torch.tensor([[-20.0, 20.0, -20.0]])  # all mass on the zero-embedding token 1
    assert demd(logits, torch.tensor([0]), embeddings).item() == 1.0
