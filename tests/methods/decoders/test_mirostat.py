import math

import pytest
import torch

from entropy_bench.methods.decoders.mirostat import Mirostat, MirostatState, MirostatV2
from entropy_bench.methods.registry import InvalidParameterError

MIROSTATS = [Mirostat, MirostatV2]


def zipf_logits(vocab: int, s: float) -> torch.Tensor:
    """log p_i = −s·log i + const, i = 1 … V: an exact Zipf distribution."""
    return -s * torch.arange(1, vocab + 1, dtype=torch.float32).log().unsqueeze(0)


@pytest.mark.parametrize("cls", MIROSTATS)
def test_mu_starts_at_twice_tau(cls):
    state = cls(tau=2.5).init_state(3, torch.device("cpu"))
    assert state.mu.tolist() == [5.0, 5.0, 5.0] and state.log_q is None


@pytest.mark.parametrize(("mu", "kept"), [(0.5, 1), (1.5, 1), (2.5, 2), (3.5, 4)])
def test_v2_keeps_tokens_with_surprise_within_mu(mu, kept):
    # Surprises of (1/2, 1/4, 1/8, 1/8) are 1, 2, 3, 3 bits; μ = 0.5 keeps none, so the argmax.
    logits = torch.tensor([[0.5, 0.25, 0.125, 0.125]]).log()
    warped, state = MirostatV2()(logits, MirostatState(torch.tensor([mu])))
    assert warped.isfinite().tolist() == [[i < kept for i in range(4)]]
    assert state.mu.tolist() == [mu]
    torch.testing.assert_close(state.log_q, warped.log_softmax(-1))


def test_v2_observe_uses_the_surprise_under_the_truncated_distribution():
    # μ = 2.5 keeps (1/2, 1/4), renormalised to (2/3, 1/3); drawing token 1 costs log2 3 bits.
    logits = torch.tensor([[0.5, 0.25, 0.125, 0.125]]).log()
    decoder = MirostatV2(tau=3.0, eta=0.1)
    _, state = decoder(logits, MirostatState(torch.tensor([2.5])))
    updated = decoder.observe(state, logits, torch.tensor([1]))
    torch.testing.assert_close(updated.mu, torch.tensor([2.5 - 0.1 * (math.log2(3) - 3.0)]))
    assert state.mu.tolist() == [2.5], "observe mutated the state"
    assert updated.log_q is None


@pytest.mark.parametrize("cls", MIROSTATS)
def test_observe_refuses_a_state_that_was_not_warped(cls):
    decoder = cls()
    with pytest.raises(ValueError, match="observe needs the state"):
        decoder.observe(decoder.init_state(1, torch.device("cpu")), torch.zeros(1, 4), torch.tensor([0]))


@pytest.mark.parametrize(("mu", "kept"), [(5.0, 7), (6.0, 12)])
def test_v1_keeps_k_from_the_zipf_fit(mu, kept):
    # On an exact Zipf(s) row the fit recovers ŝ = s; with ε̂ = s − 1 and N = V,
    # k = (ε̂·2^μ / (1 − N^−ε̂))^(1/s): 5.98 at μ = 5 and 10.65 at μ = 6, keeping round(k) + 1.
    vocab, s = 1000, 1.2
    k = ((s - 1) * 2**mu / (1 - vocab ** -(s - 1))) ** (1 / s)
    assert round(k) + 1 == kept
    warped, _ = Mirostat()(zipf_logits(vocab, s), MirostatState(torch.tensor([mu])))
    assert warped.isfinite().tolist() == [[i < kept for i in range(vocab)]]


def test_v1_flat_and_short_rows_stay_finite():
    flat = torch.zeros(2, 50)
    short = torch.tensor([[0.0, -1.0] + [float("-inf")] * 48, [0.0] + [float("-inf")] * 49])
    for logits in (flat, short):
        for mu in (-5.0, 5.0, 50.0):
            warped, _ = Mirostat()(logits, MirostatState(torch.full((2,), mu)))
            assert not warped.isnan().any() and (warped.isfinite().sum(-1) >= 1).all()


@pytest.mark.parametrize("cls", MIROSTATS)
def test_extreme_mu_keeps_one_token_or_all(cls):
    logits = zipf_logits(200, 1.1).repeat(2, 1)
    warped, _ = cls()(logits, MirostatState(torch.tensor([-1e9, 1e9])))
    assert warped.isfinite().sum(-1).tolist() == [1, 200]


@pytest.mark.parametrize("cls", MIROSTATS)
def test_feedback_steers_the_observed_surprise_to_tau(cls):
    torch.manual_seed(0)
    decoder = cls(tau=3.0, eta=0.1)
    logits = zipf_logits(1000, 1.1).repeat(64, 1)
    state = decoder.init_state(64, logits.device)
    surprises = []
    for _ in range(300):
        warped, state = decoder(logits, state)
        log_q = warped.log_softmax(-1)
        tokens = torch.multinomial(log_q.exp(), 1).squeeze(-1)
        surprises.append(-log_q.gather(-1, tokens.unsqueeze(-1)).squeeze(-1) / math.log(2))
        state = decoder.observe(state, logits, tokens)
    assert abs(torch.stack(surprises[150:]).mean().item() - 3.0) < 0.15


@pytest.mark.parametrize("cls", MIROSTATS)
@pytest.mark.parametrize("eta", [0.1, 1.0])
def test_mean_surprise_telescopes_to_tau_plus_the_distance_mu_travelled(cls, eta):
    # Summing μ_{t+1} = μ_t − η (s_t − τ) over T steps: mean s = τ + (μ_0 − μ_T) / (η T).
    torch.manual_seed(1)
    decoder, steps = cls(tau=2.0, eta=eta), 40
    logits = torch.randn(8, 300) * 3
    state = start = decoder.init_state(8, logits.device)
    surprises = []
    for _ in range(steps):
        warped, state = decoder(logits, state)
        tokens = torch.multinomial(warped.softmax(-1), 1).squeeze(-1)
        surprises.append(-warped.log_softmax(-1).gather(-1, tokens.unsqueeze(-1)).squeeze(-1) / math.log(2))
        state = decoder.observe(state, logits, tokens)
    expected = 2.0 + (start.mu - state.mu) / (eta * steps)
    torch.testing.assert_close(torch.stack(surprises).mean(0), expected, atol=1e-4, rtol=0)


@pytest.mark.parametrize("cls", MIROSTATS)
@pytest.mark.parametrize(("field", "value"), [("tau", 0.0), ("eta", 0.0), ("eta", -1.0)])
def test_rejects_non_positive_parameters(cls, field, value):
    with pytest.raises(InvalidParameterError) as err:
        cls(**{field: value})
    assert err.value.field == field
