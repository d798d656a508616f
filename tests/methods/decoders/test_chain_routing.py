"""A chain forwards ``large_model`` and ``route`` to its one two-model part: ``temperature+ead``
routes and decodes exactly like ``ead``. A chain of two parts with different large models is
refused when it is built; a chain with no two-model part routes no row.

Two-model generation uses the tiny model (2 layers, the large one) and its ``#layers=1``
truncation (the small one), as in test_ead."""

from __future__ import annotations

import pytest
import torch

from entropy_bench import sweep
from entropy_bench.generation import generate
from entropy_bench.methods.decoders.base import Chain, build_decoder
from entropy_bench.methods.decoders.ead import EntropyAdaptive, RollingEntropy
from entropy_bench.methods.decoders.temperature import Temperature
from entropy_bench.methods.decoders.top_p import TopP
from entropy_bench.methods.registry import DECODERS, InvalidParameterError
from entropy_bench.models.hf import load_model

PROMPTS = ["1 + 2 =", "Question: Tom has 3 apples. He gets", "Lena", "5 + 4 = 9\n\n9 - 8 ="]
SEEDS = [0, 1, 2, 3]
MAX_NEW = 12


@pytest.fixture(scope="module")
def pair(tiny_model_dir):
    """(small, large): the tiny model truncated to one layer, and the tiny model itself."""
    return load_model(f"{tiny_model_dir}#layers=1"), load_model(str(tiny_model_dir))


def rolling_means(entropies: list[float], window: int) -> list[float]:
    return [sum(entropies[max(0, t - window + 1) : t + 1]) / min(t + 1, window) for t in range(len(entropies))]


@pytest.fixture(scope="module", params=[1, 3], ids=lambda w: f"window={w}")
def routing(request, pair):
    """(window, threshold): a threshold at the median of the small model's own rolling mean entropies,
    at least 1e-5 nats from every one of them (the tiny model's entropies all lie near log 300), so that some steps go to each model."""
    small, large = pair
    window = request.param
    alone = generate(small, PROMPTS, EntropyAdaptive(large_model=large.name, threshold=float("inf"), window=window),
                     seeds=SEEDS, max_new_tokens=MAX_NEW, large_lm=large)
    means = sorted(m for g in alone for m in rolling_means(g.extra["small_model_entropy"], window))
    mid = len(means) // 2
    gaps = [(means[i + 1] - means[i], i) for i in range(mid - 3, mid + 3)]
    gap, i = max(gaps)
    assert gap > 2e-5, means
    return window, (means[i] + means[i + 1]) / 2


@pytest.mark.parametrize(
    "parts",
    [
        lambda ead: (Temperature(1.0), ead),
        lambda ead: (Temperature(0.7), ead),
        lambda ead: (ead, Temperature(1.0)),
    ],
    ids=["temperature(1)+ead", "temperature(0.7)+ead", "ead+temperature(1)"],
)
def test_a_chain_with_ead_generates_and_routes_exactly_like_ead(pair, routing, parts):
    small, large = pair
    window, threshold = routing
    ead = EntropyAdaptive(large_model=large.name, threshold=threshold, window=window)
    chain = Chain(parts(ead))
    assert chain.large_model == ead.large_model == large.name
    assert chain.deterministic

    ours = generate(small, PROMPTS, chain, seeds=SEEDS, max_new_tokens=MAX_NEW, large_lm=large)
    ref = generate(small, PROMPTS, ead, seeds=SEEDS, max_new_tokens=MAX_NEW, large_lm=large)
    used = [u for g in ref for u in g.extra["large_model_used"]]
    assert any(used) and not all(used), used  # the comparison is not vacuous
    assert any(0 < sum(g.extra["large_model_used"]) < len(g.token_ids) for g in ref)  # within one row too
    for g, r in zip(ours, ref):
        assert g.token_ids == r.token_ids and g.text == r.text
        assert g.extra["large_model_used"] == r.extra["large_model_used"]
        assert g.extra["small_model_entropy"] == r.extra["small_model_entropy"]
        assert g.logprob == r.logprob  # the logits in use are the same at every step
        for key in ("flops_estimate", "flops_estimate_small_model", "flops_estimate_large_model"):
            assert g.extra[key] == r.extra[key]
        # Routing is by the small model's own entropy, not by the tempered one.
        assert g.extra["large_model_used"] == [m > threshold for m in rolling_means(g.extra["small_model_entropy"], window)]


def test_a_chain_built_from_a_spec_declares_the_large_model_and_runs_with_it(pair, routing):
    small, large = pair
    window, threshold = routing
    spec = [{"name": "temperature", "temperature": 1.0},
            {"name": "ead", "large_model": large.name, "threshold": threshold, "window": window}]
    chain = build_decoder(spec)
    assert isinstance(chain, Chain) and chain.large_model == large.name
    assert chain.id == f"temperature(temperature=1.0)+{build_decoder(spec[1]).id}"
    with pytest.raises(ValueError, match="large_model"):  # the declared model is required
        generate(small, PROMPTS[:1], chain, seeds=[0], max_new_tokens=2)
    gens = generate(small, PROMPTS, chain, seeds=SEEDS, max_new_tokens=MAX_NEW, large_lm=large)
    assert all(len(g.extra["large_model_used"]) == len(g.token_ids) for g in gens)


def test_the_chain_routes_on_the_ead_parts_own_state_slot():
    ead = EntropyAdaptive(large_model="large", threshold=1.0, window=2)
    chain = Chain((Temperature(0.5), ead, TopP(0.9)))
    logits = torch.stack([torch.zeros(8), torch.tensor([0.0] + [float("-inf")] * 7)])  # H = log 8, H = 0
    state = chain.init_state(2, torch.device("cpu"))
    use, state = chain.route(logits, state)
    assert use.tolist() == [True, False]
    assert state.states[0] is None and state.states[2] is None and isinstance(state.states[1], RollingEntropy)
    alone_use, alone_state = ead.route(logits, None)
    assert torch.equal(state.states[1].entropies, alone_state.entropies)
    # Without a state the chain starts from its initial one.
    assert chain.route(logits, None)[0].tolist() == [True, False]


def test_two_two_model_parts_with_different_large_models_are_refused_when_built():
    spec = [{"name": "ead", "large_model": "org/large-a"}, {"name": "ead", "large_model": "org/large-b"}]
    with pytest.raises(InvalidParameterError, match="one two-model decoder") as err:
        build_decoder(spec)
    assert err.value.field == "decoders"
    assert "org/large-a" in str(err.value) and "org/large-b" in str(err.value)
    with pytest.raises(InvalidParameterError):
        Chain((EntropyAdaptive(large_model="a"), Temperature(1.0), EntropyAdaptive(large_model="b")))


def test_a_sweep_with_such_a_chain_fails_at_expansion(tiny_model_dir):
    spec = sweep.parse({
        "name": "two-large",
        "models": [f"{tiny_model_dir}#layers=1"],
        "tasks": [{"name": "arithmetic", "limit": 2}],
        "decoders": [[{"name": "ead", "large_model": "org/large-a"}, {"name": "ead", "large_model": "org/large-b"}]],
    })
    with pytest.raises(InvalidParameterError, match="one two-model decoder"):
        sweep.plan(spec)


def test_two_two_model_parts_are_refused_even_with_the_same_large_model():
    """One routing rule per step: a second two-model part would be silently ignored."""
    never = {"name": "ead", "large_model": "org/large", "threshold": float("inf")}
    always = {"name": "ead", "large_model": "org/large", "threshold": float("-inf")}
    with pytest.raises(InvalidParameterError, match="one two-model decoder"):
        build_decoder([never, always])


@pytest.mark.parametrize(
    "chain",
    [Chain((Temperature(0.7), TopP(0.9))), Chain((DECODERS.build("greedy"),)), Chain(())],
    ids=["temperature+top_p", "greedy", "empty"],
)
def test_a_chain_without_a_two_model_part_routes_no_row(chain):
    assert chain.large_model is None
    logits = torch.randn(5, 11)
    for state in (None, chain.init_state(5, logits.device)):
        use, _ = chain.route(logits, state)
        assert use.dtype == torch.bool and use.shape == (5,) and not use.any()


def test_a_chain_without_a_two_model_part_generates_without_a_second_model(pair):
    small, large = pair
    chain = Chain((Temperature(0.7), TopP(0.9)))
    gens = generate(small, PROMPTS, chain, seeds=SEEDS, max_new_tokens=4)
    assert all("large_model_used" not in g.extra for g in gens)
    with pytest.raises(ValueError, match="large_model"):
        generate(small, PROMPTS[:1], chain, seeds=[0], max_new_tokens=2, large_lm=large)
