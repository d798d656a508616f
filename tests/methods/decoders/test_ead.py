"""EAD: the routing rule on hand-built distributions, and two-model generation with a tiny model
(2 layers, the large one) and its ``#layers=1`` truncation (the small one), which share a tokenizer."""

from __future__ import annotations

import math

import pandas as pd
import pytest
import torch
from mlflow.tracking import MlflowClient

from entropy_bench import sweep
from entropy_bench.generation import generate
from entropy_bench.methods.decoders.ead import EntropyAdaptive
from entropy_bench.methods.registry import DECODERS, InvalidParameterError
from entropy_bench.models.hf import load_model
from entropy_bench.models.pool import Models
from entropy_bench.runner import run_sweep
from entropy_bench.tracking import PARENT_ID_TAG

NEG_INF = float("-inf")
PROMPTS = ["1 + 2 =", "Question: Tom has 3 apples. He gets", "Lena", "5 + 4 = 9\n\n9 - 8 ="]
SEEDS = [0, 1, 2, 3]
MAX_NEW = 12


def uniform_over(k: int, vocab: int = 8) -> torch.Tensor:
    """Logits of the uniform distribution over the first k of ``vocab`` tokens: H = log k."""
    return torch.tensor([0.0] * k + [NEG_INF] * (vocab - k))


def test_route_uses_the_rolling_mean_of_the_last_window_entropies():
    ead = EntropyAdaptive(large_model="large", threshold=math.log(3), window=2)
    # Row 0 sees H = log 1, log 8, log 4, log 2; row 1 sees log 4, log 1, log 1, log 8.
    ks = [(1, 4), (8, 1), (4, 1), (2, 8)]
    state = ead.init_state(2, torch.device("cpu"))
    decisions = []
    for k0, k1 in ks:
        use, state = ead.route(torch.stack([uniform_over(k0), uniform_over(k1)]), state)
        decisions.append(use.tolist())
    # Rolling means (window 2, fewer at the start) against log 3 ≈ 1.10:
    # row 0: 0, (0 + 2.08)/2 = 1.04, (2.08 + 1.39)/2 = 1.73, (1.39 + 0.69)/2 = 1.04
    # row 1: 1.39, 0.69, 0, 1.04
    assert decisions == [[False, True], [False, False], [True, False], [False, False]]


def test_route_does_not_mutate_its_input_and_rows_are_independent():
    ead = EntropyAdaptive(large_model="large", threshold=1.0, window=3)
    logits = torch.stack([uniform_over(k) for k in (1, 3, 8)])
    before = logits.clone()
    together, _ = ead.route(logits, None)
    assert torch.equal(logits, before)
    alone = [ead.route(logits[i : i + 1], None)[0].item() for i in range(3)]
    assert together.tolist() == alone == [False, True, True]


def test_warp_is_greedy_and_keeps_the_state():
    ead = EntropyAdaptive(large_model="large")
    logits = torch.tensor([[1.0, 3.0, 2.0], [0.5, NEG_INF, 0.7]])
    state = ead.init_state(2, logits.device)
    warped, same = ead(logits, state)
    assert warped.isfinite().tolist() == [[False, True, False], [False, False, True]]
    assert same is state and ead.deterministic


@pytest.mark.parametrize(
    ("params", "field"),
    [({"window": 0}, "window"), ({"window": 1.5}, "window"), ({"threshold": float("nan")}, "threshold"),
     ({"large_model": ""}, "large_model")],
)
def test_invalid_parameters_are_named(params, field):
    with pytest.raises(InvalidParameterError) as err:
        DECODERS.build("ead", **params)
    assert err.value.field == field


def test_method_id_names_the_large_model():
    ead = DECODERS.build("ead", large_model="some/model#layers=3", threshold=2.5, window=4)
    assert ead.id == "ead(large_model=some/model#layers=3,threshold=2.5,window=4)"


@pytest.fixture(scope="module")
def pair(tiny_model_dir):
    """(small, large): the tiny model truncated to one layer, and the tiny model itself."""
    return load_model(f"{tiny_model_dir}#layers=1"), load_model(str(tiny_model_dir))


def run_ead(pair, threshold: float, window: int = 1):
    small, large = pair
    ead = EntropyAdaptive(large_model=large.name, threshold=threshold, window=window)
    return generate(small, PROMPTS, ead, seeds=SEEDS, max_new_tokens=MAX_NEW, large_lm=large)


def greedy(lm):
    return generate(lm, PROMPTS, DECODERS.build("greedy"), seeds=SEEDS, max_new_tokens=MAX_NEW)


def test_infinite_threshold_is_greedy_with_the_small_model(pair):
    ours = run_ead(pair, float("inf"))
    assert [g.token_ids for g in ours] == [g.token_ids for g in greedy(pair[0])]
    for g in ours:
        assert not any(g.extra["large_model_used"])
        assert g.extra["flops_estimate_large_model"] == 0.0
        assert g.extra["small_model_entropy"] == pytest.approx(g.entropy, abs=1e-6)


def test_minus_infinite_threshold_is_greedy_with_the_large_model(pair):
    ours = run_ead(pair, NEG_INF)
    ref = greedy(pair[1])
    assert [g.token_ids for g in ours] == [g.token_ids for g in ref]
    for g, r in zip(ours, ref):
        assert all(g.extra["large_model_used"])
        assert g.entropy == pytest.approx(r.entropy, abs=1e-5)  # the record describes the logits in use
        assert g.logprob == pytest.approx(r.logprob, abs=1e-5)


def rolling_means(entropies: list[float], window: int) -> list[float]:
    return [sum(entropies[max(0, t - window + 1) : t + 1]) / min(t + 1, window) for t in range(len(entropies))]


@pytest.mark.parametrize("window", [1, 3])
def test_intermediate_threshold_routes_by_the_rolling_mean(pair, window):
    # A threshold at the median of the small model's own rolling means: some steps go each way.
    alone = run_ead(pair, float("inf"), window)
    means = sorted(m for g in alone for m in rolling_means(g.extra["small_model_entropy"], window))
    threshold = (means[len(means) // 2 - 1] + means[len(means) // 2]) / 2
    gens = run_ead(pair, threshold, window)
    fractions = [sum(g.extra["large_model_used"]) / len(g.token_ids) for g in gens]
    assert any(0 < f < 1 for f in fractions), fractions
    for g in gens:
        recomputed = rolling_means(g.extra["small_model_entropy"], window)
        assert min(abs(m - threshold) for m in recomputed) > 1e-5  # no decision within rounding
        assert g.extra["large_model_used"] == [m > threshold for m in recomputed]
        assert len(g.extra["large_model_used"]) == len(g.extra["small_model_entropy"]) == len(g.token_ids)


def full_forward_logprobs(lm, prompt: str, tokens: list[int]) -> torch.Tensor:
    """log p(x_t | prompt, x_<t) for every t from one unpadded forward pass (batch of one)."""
    ids = lm.tokenizer(prompt, return_tensors="pt", add_special_tokens=False)["input_ids"]
    with torch.no_grad():
        logits = lm.model(torch.cat([ids, torch.tensor([tokens])], dim=1)).logits[0, ids.shape[1] - 1 : -1]
    return logits.double().log_softmax(-1).gather(-1, torch.tensor(tokens).unsqueeze(-1)).squeeze(-1)


def test_lazy_catch_up_gives_the_large_models_own_logits(pair):
    """After a catch-up over several columns (left-padded batch), the large model's log-probs equal a
    fresh unpadded forward pass; the small model's steps equal the small model's."""
    small, large = pair
    entropies = sorted(e for g in run_ead(pair, float("inf")) for e in g.extra["small_model_entropy"])
    gens = run_ead(pair, entropies[3 * len(entropies) // 4])  # the large model on about a quarter of steps
    assert any(0 < sum(g.extra["large_model_used"]) < len(g.token_ids) for g in gens)
    batch_used = [any(t < len(g.token_ids) and g.extra["large_model_used"][t] for g in gens) for t in range(MAX_NEW)]
    assert any(batch_used[t] and not batch_used[t - 1] for t in range(2, MAX_NEW)), "no catch-up over several columns"
    for prompt, g in zip(PROMPTS, gens):
        used = torch.tensor(g.extra["large_model_used"])
        expected = torch.where(used, full_forward_logprobs(large, prompt, g.token_ids),
                               full_forward_logprobs(small, prompt, g.token_ids))
        torch.testing.assert_close(torch.tensor(g.logprob).double(), expected, atol=1e-4, rtol=0)


@pytest.mark.parametrize("threshold", [NEG_INF, "median", float("inf")])
def test_flops_estimate_is_two_params_per_processed_token(pair, threshold):
    small, large = pair
    if threshold == "median":
        entropies = sorted(e for g in run_ead(pair, float("inf")) for e in g.extra["small_model_entropy"])
        threshold = entropies[len(entropies) // 2]
    for prompt, g in zip(PROMPTS, run_ead(pair, threshold)):
        prompt_tokens = len(small.tokenizer(prompt, add_special_tokens=False)["input_ids"])
        steps = len(g.token_ids)  # no stop strings: every generated token is kept
        used = [t for t, u in enumerate(g.extra["large_model_used"]) if u]
        small_flops = 2 * small.n_params * (prompt_tokens + steps - 1)
        large_flops = 2 * large.n_params * (prompt_tokens + used[-1]) if used else 0
        assert g.extra["flops_estimate_small_model"] == small_flops
        assert g.extra["flops_estimate_large_model"] == large_flops
        assert g.extra["flops_estimate"] == small_flops + large_flops


def test_generate_requires_exactly_the_declared_second_model(pair):
    small, large = pair
    ead = EntropyAdaptive(large_model=large.name)
    with pytest.raises(ValueError, match="large_model"):
        generate(small, PROMPTS[:1], ead, seeds=[0], max_new_tokens=2)
    with pytest.raises(ValueError, match="large_model"):
        generate(small, PROMPTS[:1], DECODERS.build("greedy"), seeds=[0], max_new_tokens=2, large_lm=large)


def test_runner_loads_the_large_model_by_its_spec_and_logs_fraction_and_flops(tiny_model_dir, tmp_path):
    thresholds = [NEG_INF, float("inf")]
    spec = sweep.parse({
        "name": "ead",
        "models": [f"{tiny_model_dir}#layers=1"],
        "tasks": [{"name": "arithmetic", "limit": 4, "max_new_tokens": 4, "num_fewshot": 1}],
        "decoders": [{"name": "ead", "large_model": str(tiny_model_dir), "threshold": t} for t in thresholds],
        "batch_size": 4,
    })
    uri = f"sqlite:///{tmp_path / 'mlruns.db'}"
    models = Models()
    run_sweep(spec, tracking_uri=uri, cache_dir=tmp_path / "cache", resources={"models": models}, progress=False)
    assert sorted(models.loaded) == sorted([f"{tiny_model_dir}#layers=1", str(tiny_model_dir)])
    client = MlflowClient(uri)
    runs = client.search_runs([client.get_experiment_by_name("ead").experiment_id])
    kids = {r.data.params["decoder"]: r.data for r in runs if PARENT_ID_TAG in r.data.tags}
    always, never = (kids[DECODERS.build("ead", large_model=str(tiny_model_dir), threshold=t).id] for t in thresholds)
    assert always.metrics["test/gen/large_model_fraction"] == 1.0 and never.metrics["test/gen/large_model_fraction"] == 0.0
    for run in (always, never):
        m = run.metrics
        assert m["cost/flops_estimate"] == pytest.approx(m["cost/flops_estimate_small_model"] + m["cost/flops_estimate_large_model"])
        assert run.tags["large_model.name"] == str(tiny_model_dir)
        assert run.tags["model.source"] == run.tags["large_model.source"]  # a truncation keeps its base's source
    assert never.metrics["cost/flops_estimate_large_model"] == 0.0
    assert always.metrics["cost/flops_estimate"] > never.metrics["cost/flops_estimate"] > 0

    again = Models()
    result = run_sweep(spec, tracking_uri=f"sqlite:///{tmp_path / 'fresh.db'}", cache_dir=tmp_path / "cache",
                       resources={"models": again}, progress=False)
    assert result.generated_examples == 0 and result.forward_calls == 0


def test_study_writes_the_score_vs_cost_curve(tiny_model_dir, tmp_path):
    import yaml

    from entropy_bench.studies.ead import run_ead_study

    spec = {
        "name": "ead-study",
        "models": [f"{tiny_model_dir}#layers=1"],
        "tasks": [{"name": "arithmetic", "limit": 4, "max_new_tokens": 3, "num_fewshot": 1}],
        "decoders": [{"name": "ead", "large_model": str(tiny_model_dir), "threshold": t} for t in (NEG_INF, 5.0, float("inf"))],
    }
    (tmp_path / "ead.yaml").write_text(yaml.safe_dump(spec))
    table = run_ead_study(str(tmp_path / "ead.yaml"), tracking_uri=f"sqlite:///{tmp_path / 'mlruns.db'}",
                          cache_dir=tmp_path / "cache", out_dir=tmp_path / "out", progress=False)
    assert (tmp_path / "out" / "curve.png").stat().st_size > 0
    written = pd.read_csv(tmp_path / "out" / "curve.csv")
    assert len(written) == len(table) == 4 and list(written["system"]).count("large model alone") == 1
    assert table["flops_per_example"].is_monotonic_increasing
    by = {row["threshold"]: row for _, row in table[table["system"] == "ead"].iterrows()}
    alone = table[table["system"] == "large model alone"].iloc[0]
    assert by[float("inf")]["large_model_fraction"] == 0 and by[NEG_INF]["large_model_fraction"] == 1
    assert alone["accuracy"] == by[NEG_INF]["accuracy"] and alone["relative_flops"] == 1.0
    assert alone["flops_per_example"] == by[NEG_INF]["large_model_flops_per_example"]
    parts = table["small_model_flops_per_example"] + table["large_model_flops_per_example"]
    assert table["flops_per_example"].tolist() == pytest.approx(parts.tolist())
