"""policy_gradient, clip_cov and kl_cov on token log-probs: values by hand, which tokens the
covariance rules pick, bad input, and the entropy mechanism on a softmax bandit (Cui et al. 2025)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from entropy_bench.methods.losses.clip_cov import token_covariance
from entropy_bench.methods.registry import LOSSES, InvalidParameterError

# two responses of three tokens; the last token of the second is padding
LOGPROBS = torch.tensor([[-0.5, -1.0, -2.0], [-0.1, -3.0, -9.0]], dtype=torch.float64)
OLD = torch.tensor([[-0.6, -0.9, -2.0], [-0.2, -2.5, 0.0]], dtype=torch.float64)
ADVANTAGES = torch.tensor([[1.0, 1.0, 1.0], [-0.5, -0.5, -0.5]], dtype=torch.float64)
MASK = torch.tensor([[1, 1, 1], [1, 1, 0]])
ENTROPY = torch.tensor([[0.7, 0.2, 1.1], [0.05, 2.0, 9.0]], dtype=torch.float64)


def test_policy_gradient_hand_computed():
    ratio = np.exp(LOGPROBS.numpy() - OLD.numpy())
    per_token = -ratio * ADVANTAGES.numpy() - 0.1 * ENTROPY.numpy()
    keep = MASK.numpy().astype(bool)
    loss = LOSSES.build("policy_gradient", entropy_coef=0.1)
    np.testing.assert_allclose(loss(LOGPROBS, OLD, ADVANTAGES, MASK, ENTROPY).item(), per_token[keep].mean(), rtol=1e-13)
    none = LOSSES.build("policy_gradient", entropy_coef=0.1, reduction="none")(LOGPROBS, OLD, ADVANTAGES, MASK, ENTROPY)
    np.testing.assert_allclose(none.numpy(), np.where(keep, per_token, 0.0), rtol=1e-13)
    summed = LOSSES.build("policy_gradient", reduction="sum")(LOGPROBS, OLD, ADVANTAGES, MASK.bool())
    np.testing.assert_allclose(summed.item(), (-ratio * ADVANTAGES.numpy())[keep].sum(), rtol=1e-13)


def test_on_policy_gradient_is_reinforce():
    logprobs = LOGPROBS.clone().requires_grad_()
    loss = LOSSES.build("policy_gradient")(logprobs, logprobs.detach(), ADVANTAGES, MASK)
    (grad,) = torch.autograd.grad(loss, logprobs)
    torch.testing.assert_close(grad, -ADVANTAGES * MASK / MASK.sum())


def test_entropy_bonus_raises_entropy():
    entropy = ENTROPY.clone().requires_grad_()
    loss = LOSSES.build("policy_gradient", entropy_coef=0.01)(LOGPROBS, OLD, ADVANTAGES, MASK, entropy)
    (grad,) = torch.autograd.grad(loss, entropy)
    torch.testing.assert_close(grad, (-0.01 * MASK / MASK.sum()).double())  # descending the loss ascends H


def test_token_covariance_by_hand():
    keep = MASK.bool()
    lp, adv = LOGPROBS.numpy()[keep.numpy()], ADVANTAGES.numpy()[keep.numpy()]
    expected = (lp - lp.mean()) * (adv - adv.mean())
    cov = token_covariance(LOGPROBS, ADVANTAGES, keep)
    np.testing.assert_allclose(cov[keep].numpy(), expected, rtol=1e-13)
    assert cov[1, 2] == float("-inf") and not cov.requires_grad
    assert np.isclose(expected.mean(), np.cov(lp, adv, bias=True)[0, 1])  # the terms average to Cov


def ppo(logprobs, old, advantages, low=0.2, high=0.2):
    ratio = torch.exp(logprobs - old)
    return torch.maximum(-advantages * ratio, -advantages * ratio.clamp(1 - low, 1 + high))


def clip_cov_inputs():
    """30 kept tokens of 32, ratios near 1 except the two of largest covariance, which PPO clips."""
    generator = torch.Generator().manual_seed(0)
    logprobs = -3 * torch.rand(4, 8, generator=generator, dtype=torch.float64)
    advantages = 2 * torch.randn(4, 8, generator=generator, dtype=torch.float64)
    old = logprobs + 0.05 * torch.randn(4, 8, generator=generator, dtype=torch.float64)
    mask = torch.ones(4, 8, dtype=torch.bool)
    mask[3, 6:] = False
    top = token_covariance(logprobs, advantages, mask).flatten().topk(2).indices
    # r = e^{±1} on the side PPO clips: above 1 + ε where A > 0, below 1 − ε where A < 0
    old.view(-1)[top] = logprobs.view(-1)[top] - advantages.view(-1)[top].sign()
    return logprobs, old, advantages, mask


def test_clip_cov_detaches_a_random_few_tokens_in_the_covariance_band():
    logprobs, old, advantages, mask = clip_cov_inputs()
    cov = token_covariance(logprobs, advantages, mask)
    ppo_clipped = (-advantages * torch.exp(logprobs - old).clamp(0.8, 1.2)) > (-advantages * torch.exp(logprobs - old))
    candidates = mask & ~ppo_clipped & (cov > 0.5) & (cov < 5.0)
    in_band_but_clipped = ppo_clipped & mask & (cov > 0.5) & (cov < 5.0)
    assert 6 <= candidates.sum() <= 20 and in_band_but_clipped.sum() == 2  # the case is not trivial
    loss = LOSSES.build("clip_cov", clip_cov_ratio=0.1, clip_cov_lb=0.5, reduction="none")
    expected_count = int(0.1 * 30)
    chosen_sets = set()
    for seed in range(8):
        values = loss(logprobs, old, advantages, mask, generator=torch.Generator().manual_seed(seed))
        reference = ppo(logprobs, old, advantages).masked_fill(~mask, 0)
        detached = values != reference
        assert detached.sum() == expected_count and (values[detached] == 0).all()
        assert candidates[detached].all()
        chosen_sets.add(tuple(detached.flatten().tolist()))
    assert len(chosen_sets) > 1  # the draw is random, and reproducible per generator:
    again = [loss(logprobs, old, advantages, mask, generator=torch.Generator().manual_seed(3)) for _ in range(2)]
    assert torch.equal(*again)


def test_clip_cov_without_candidates_is_ppo_and_zeroes_gradients_of_detached_tokens():
    logprobs, old, advantages, mask = clip_cov_inputs()
    plain = LOSSES.build("clip_cov", clip_cov_lb=50.0, clip_cov_ub=60.0)(logprobs, old, advantages, mask)
    torch.testing.assert_close(plain, ppo(logprobs, old, advantages)[mask].mean())
    leaf = logprobs.clone().requires_grad_()
    loss = LOSSES.build("clip_cov", clip_cov_ratio=0.1, clip_cov_lb=0.5, reduction="none")
    values = loss(leaf, old, advantages, mask, generator=torch.Generator().manual_seed(0))
    (grad,) = torch.autograd.grad(values.sum(), leaf)
    detached = (values == 0) & mask
    assert detached.sum() == 3 and (grad[detached] == 0).all() and (grad[mask & ~detached] != 0).any()


def test_clip_cov_default_ratio_detaches_one_token():
    logprobs, old, advantages, mask = clip_cov_inputs()
    values = LOSSES.build("clip_cov", clip_cov_lb=0.5, reduction="none")(logprobs, old, advantages, mask)
    assert (values != ppo(logprobs, old, advantages).masked_fill(~mask, 0)).sum() == 1  # max(1, ⌊2e-4 · 30⌋)


def test_kl_cov_penalises_the_top_covariance_tokens():
    logprobs, old, advantages, mask = clip_cov_inputs()
    cov = token_covariance(logprobs, advantages, mask)
    loss = LOSSES.build("kl_cov", kl_cov_ratio=0.1, kl_coef=2.0, reduction="none")
    values = loss(logprobs, old, advantages, mask)
    top = cov.flatten().topk(3).indices  # ⌊0.1 · 30⌋
    penalised = torch.zeros(32, dtype=torch.bool).index_fill(0, top, True).view(4, 8)
    expected = -advantages * torch.exp(logprobs - old) + 2.0 * (logprobs - old).abs() * penalised
    torch.testing.assert_close(values, expected.masked_fill(~mask, 0))
    no_penalty = LOSSES.build("kl_cov", kl_coef=0.0)(logprobs, old, advantages, mask)
    torch.testing.assert_close(no_penalty, LOSSES.build("policy_gradient")(logprobs, old, advantages, mask))


def test_kl_cov_ignores_masked_tokens():
    logprobs, old, advantages, mask = clip_cov_inputs()
    advantages[3, 7] = 1e6  # huge covariance, but padding
    loss = LOSSES.build("kl_cov", reduction="none")
    assert loss(logprobs, old, advantages, mask)[3, 7] == 0
    changed = logprobs.clone()
    changed[3, 6:] = -50.0
    torch.testing.assert_close(loss(changed, old, advantages, mask), loss(logprobs, old, advantages, mask))


def test_gradcheck_float64():
    logprobs, old, advantages, mask = clip_cov_inputs()
    entropy = torch.rand(4, 8, dtype=torch.float64, generator=torch.Generator().manual_seed(5))
    pg = LOSSES.build("policy_gradient", entropy_coef=0.1)
    assert torch.autograd.gradcheck(lambda lp, h: pg(lp, old, advantages, mask, h),
                                    (logprobs.clone().requires_grad_(), entropy.requires_grad_()))
    kl = LOSSES.build("kl_cov", kl_cov_ratio=0.1)
    assert torch.autograd.gradcheck(lambda lp: kl(lp, old, advantages, mask), (logprobs.clone().requires_grad_(),))
    clip = LOSSES.build("clip_cov", clip_cov_ratio=0.1, clip_cov_lb=0.5)
    assert torch.autograd.gradcheck(
        lambda lp: clip(lp, old, advantages, mask, generator=torch.Generator().manual_seed(0)),
        (logprobs.clone().requires_grad_(),))


POLICY = {
    "policy_gradient": lambda loss, lp, old, adv, mask: loss(lp, old, adv, mask),
    "clip_cov": lambda loss, lp, old, adv, mask: loss(lp, old, adv, mask, generator=torch.Generator().manual_seed(0)),
    "kl_cov": lambda loss, lp, old, adv, mask: loss(lp, old, adv, mask),
}

BAD = {
    "advantages of another shape": (lambda lp, old, adv, m: (lp, old, adv[:, :2], m), "advantages"),
    "mask of another shape": (lambda lp, old, adv, m: (lp, old, adv, m[0]), "mask"),
    "old_logprobs not a tensor": (lambda lp, old, adv, m: (lp, old.tolist(), adv, m), "old_logprobs"),
    "integer logprobs": (lambda lp, old, adv, m: (lp.long(), old, adv, m), "logprobs"),
    "integer advantages": (lambda lp, old, adv, m: (lp, old, adv.long(), m), "advantages"),
    "empty batch": (lambda lp, old, adv, m: (lp[:0], old[:0], adv[:0], m[:0]), "logprobs"),
}


@pytest.mark.parametrize("bad", BAD)
@pytest.mark.parametrize("name", POLICY)
def test_bad_input_is_refused_naming_the_argument(name, bad):
    make, field = BAD[bad]
    loss = LOSSES.build(name)
    with pytest.raises(InvalidParameterError) as err:
        POLICY[name](loss, *make(LOGPROBS, OLD, ADVANTAGES, MASK))
    assert err.value.field == field and err.value.owner == name


def test_entropy_is_required_with_a_bonus_and_checked():
    loss = LOSSES.build("policy_gradient", entropy_coef=0.1)
    with pytest.raises(InvalidParameterError, match="required") as err:
        loss(LOGPROBS, OLD, ADVANTAGES, MASK)
    assert err.value.field == "entropy"
    with pytest.raises(InvalidParameterError) as err:
        loss(LOGPROBS, OLD, ADVANTAGES, MASK, ENTROPY[:1])
    assert err.value.field == "entropy"


@pytest.mark.parametrize("name", POLICY)
def test_nan_propagates_from_kept_tokens_only(name):
    loss = LOSSES.build(name)
    poisoned = LOGPROBS.clone()
    poisoned[1, 2] = float("nan")  # padding
    assert POLICY[name](loss, poisoned, OLD, ADVANTAGES, MASK).isfinite()
    poisoned[0, 1] = float("nan")
    assert POLICY[name](loss, poisoned, OLD, ADVANTAGES, MASK).isnan()


@pytest.mark.parametrize("name", POLICY)
def test_reductions(name):
    values = {r: POLICY[name](LOSSES.build(name, reduction=r), LOGPROBS, OLD, ADVANTAGES, MASK)
              for r in ("none", "sum", "mean")}
    assert values["none"].shape == LOGPROBS.shape and values["none"][1, 2] == 0
    torch.testing.assert_close(values["sum"], values["none"].sum())
    torch.testing.assert_close(values["mean"], values["none"].sum() / 5)


def entropy(logits: torch.Tensor) -> torch.Tensor:
    log_p = logits.log_softmax(-1)
    return -(log_p.exp() * log_p).sum(-1)


def bandit_step(logits: torch.Tensor, rewards: torch.Tensor, step: float) -> tuple[float, float]:
    """One exact policy-gradient step of size ``step`` on a softmax bandit, through the
    ``policy_gradient`` loss: (measured entropy change, −step · Cov_{a~π}(log π(a), π(a) A(a)))."""
    probs = logits.softmax(-1)
    advantages = rewards - (probs * rewards).sum()  # A(a) = r(a) − E_π r
    # the expected gradient: every arm once, weighted by its probability (on-policy, ratio 1)
    z = logits.clone().requires_grad_()
    log_probs = z.log_softmax(-1)
    loss = LOSSES.build("policy_gradient", reduction="sum")(
        log_probs, log_probs.detach(), probs * advantages, torch.ones_like(logits, dtype=torch.bool))
    (grad,) = torch.autograd.grad(loss, z)
    delta = -step * grad
    torch.testing.assert_close(delta, step * probs * advantages)  # Δz_a = η π(a) A(a)
    log_pi, weighted = probs.log(), probs * advantages
    covariance = (probs * (log_pi - (probs * log_pi).sum()) * (weighted - (probs * weighted).sum())).sum()
    return (entropy(logits + delta) - entropy(logits)).item(), -step * covariance.item()


@pytest.mark.parametrize("seed", range(5))
def test_bandit_entropy_change_is_minus_the_covariance(seed):
    """Cui et al. (2025), the softmax-policy lemma: H(π^{k+1}) − H(π^k) ≈ −Cov_{a~π}(log π(a), Δz_a),
    and for policy gradient Δz_a = η π(a) A(a)."""
    generator = torch.Generator().manual_seed(seed)
    logits = 1.5 * torch.randn(6, generator=generator, dtype=torch.float64)
    rewards = torch.rand(6, generator=generator, dtype=torch.float64)
    measured, predicted = bandit_step(logits, rewards, step=0.01)
    assert abs(measured - predicted) < 0.05 * abs(predicted)


def test_bandit_confident_right_arm_lowers_entropy_and_rare_right_arm_raises_it():
    logits = torch.tensor([3.0, 0.0, 0.0, 0.0], dtype=torch.float64)
    falls = bandit_step(logits, torch.tensor([1.0, 0.0, 0.0, 0.0], dtype=torch.float64), step=0.05)
    rises = bandit_step(logits, torch.tensor([0.0, 1.0, 0.0, 0.0], dtype=torch.float64), step=0.05)
    assert falls[0] < 0 < rises[0]
    for measured, predicted in (falls, rises):
        assert abs(measured - predicted) < 0.05 * abs(predicted)
